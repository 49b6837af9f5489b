//! The collection layer: which accounts are watched, when each is fetched,
//! and what is kept of them. Above `api` (it decides when to call), below
//! `expose` (which renders what is kept here).
//!
//! * [`target`]: targets at run time ([`Target`], [`TargetFactory`]) and the
//!   watched accounts ([`Watched`]);
//! * [`discovery`]: which accounts are watched, found again every discovery
//!   TTL ([`Discovery`]);
//! * [`cache`]: when each account is fetched and what is exported of it
//!   ([`BotCache`]): coalescing, backoff, stale-while-revalidate;
//! * [`schedule`]: when each account or AppInstance is due (both caches);
//! * [`sdk`]: the Chime SDK source: AppInstances, their bots' lists and
//!   details ([`SdkCache`]), on the same schedule, TTL, backoff and limits;
//! * [`bots`]: an account's bots packed into two allocations ([`BotList`]);
//! * [`capacity`]: whether the rate limit keeps every account fresh;
//! * [`probe`]: one bot on demand through GetBot ([`Prober`]);
//! * [`shard`]: which accounts this exporter owns among several;
//! * [`reload`]: the targets file read again ([`Reloader`]).

mod bots;
mod cache;
mod capacity;
mod discovery;
mod probe;
mod reload;
mod schedule;
mod sdk;
mod shard;
mod target;

pub use bots::{BotList, BotListBuilder, TooLarge};
pub use cache::{AccountState, AccountView, BotCache, CacheStats, Snapshot, WatchedSet};
pub use capacity::{Capacity, Demand};
pub use discovery::{Discovery, TargetStatus};
pub use probe::{Answered, ProbeOutcome, ProbeRefused, ProbeResult, Prober};
pub use reload::{ReloadError, Reloaded, Reloader};
pub use sdk::{InstanceState, InstanceView, SdkBot, SdkCache, SdkTarget};
pub use shard::{owner as shard_owner, owns as shard_owns};
pub use target::{CacheSettings, Target, TargetFactory, Watched};
