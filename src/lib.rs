//! chime_exporter: a Prometheus exporter for the Amazon Chime administration
//! API.
//!
//! Data flows one way, through layers that each import only the ones below
//! them (`ARCHITECTURE.md` draws it; a test holds the code to it):
//!
//! ```text
//! config → api → collect → expose → http → startup → main
//! ```
//!
//! * [`config`]: flags, the targets file, the web config, checked once;
//! * [`api`]: the AWS SDK client: operations, errors, limits, counters;
//! * [`collect`]: which accounts, when to fetch them, what is kept;
//! * [`expose`]: the exposition: account families, telemetry, gzip;
//! * [`http`]: the server, routes, TLS and auth;
//! * [`startup`]: the wiring of all of the above; [`check`]: the `check`
//!   subcommand, the same wiring asked "will this work?";
//! * [`logging`], [`memory`], [`version`]: process-wide concerns of the
//!   binary.
//!
//! [`fake`] is a fake Chime API for `--demo` and the tests. It stands apart:
//! it imports nothing of the exporter, and only `startup` imports it.

pub mod api;
pub mod check;
pub mod collect;
pub mod config;
pub mod expose;
pub mod fake;
pub mod http;
pub mod logging;
pub mod memory;
pub mod startup;
pub mod version;

pub use startup::{run, shutdown_signal, RunError};
