//! The HTTP layer: the exporter's face to scrapers and operators. The top
//! layer below the wiring: it imports everything below it and nothing
//! imports it but `startup`.
//!
//! * [`server`]: accepting connections, TLS, timeouts, graceful shutdown;
//! * [`routes`]: the route table and the handlers ([`State`]);
//! * [`auth`]: basic auth with a cache of verified credentials;
//! * [`body`]: shared chunks as a response body;
//! * [`deadline`]: write deadlines, so a client that stops reading is
//!   dropped;
//! * [`request`]: what is read out of requests (budget, encodings, query);
//! * [`landing`]: the page at `/`;
//! * [`status`]: the page at `/status`.

mod auth;
mod body;
mod deadline;
mod h2;
mod landing;
mod listen;
mod request;
mod routes;
mod server;
mod status;

pub use auth::{parse_basic, Authenticator, Verdict, VERIFY_QUEUE, VERIFY_THREADS};
pub use body::Body;
pub use deadline::WRITE_MARGIN;
pub use listen::{ListenError, Listeners};
pub use request::{
    accepts_gzip, negotiate_format, query_params, scrape_budget, SCRAPE_TIMEOUT_HEADER,
};
pub use routes::{route_of, valid_probe_id, Route, State, MAX_PROBE_ID_LEN};
pub use server::{serve, HEADER_READ_TIMEOUT, SHUTDOWN_GRACE};
