//! The API client layer: everything that talks to the Chime API, and
//! nothing that decides when to. Above `config`, below `collect`.
//!
//! * [`client`]: [`ChimeApi`], the SDK client and its four operations;
//! * [`model`]: what is read out of the answers ([`Bot`], [`AccountInfo`]);
//!   secrets are dropped here;
//! * [`error`]: [`ErrorKind`] (the bounded `error` label) and the one
//!   classifier of failures;
//! * [`limits`]: [`ApiLimits`], the process-wide concurrency and rate limits;
//! * [`interceptors`]: the retry classifier, the empty-body guard, the
//!   attempt counter;
//! * [`paginate`]: following `NextToken`, with a loop guard;
//! * [`retry`]: attempts per operation and the retry quota;
//! * [`operation`]: which operation and account a request is, from its path;
//! * [`telemetry`]: the counters of the calls ([`ApiMetrics`]);
//! * [`sdk`]: [`ChimeSdkApi`], the second source (Chime SDK Identity:
//!   AppInstances and their bots), through the same limits and counters;
//! * [`trace`]: the attempts of one piece of work, for `debug=true` probes.

mod client;
mod error;
mod interceptors;
mod limits;
mod model;
mod operation;
mod paginate;
mod retry;
mod sdk;
mod telemetry;
mod trace;

pub use client::{ApiSettings, ChimeApi, ACCOUNTS_PAGE_SIZE, MAX_PAGES, SIGNING_REGION};
pub use error::{ApiError, ErrorKind};
pub use limits::{ApiLimits, Priority, Slot};
pub use model::{AccountInfo, Bot, BotRecord};
pub use operation::{operation_of, percent_decode, Operation};
pub use retry::{retry_quota, MAX_ATTEMPTS};
pub use sdk::{
    resolve_region, AppInstance, AppInstanceBotDetails, AppInstanceBotSummary, ChimeSdkApi,
    SDK_MAX_PAGES, SDK_PAGE_SIZE,
};
pub use telemetry::{AccountCalls, ApiFamilies, ApiMetrics, CallTable};
pub use trace::{traced, Attempt};
