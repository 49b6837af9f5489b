//! Facts about this build, filled in by `build.rs`: for `--version`,
//! `chime_exporter_build_info`, the landing page and the status page.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("CHIME_EXPORTER_REVISION");
pub const RUSTC_VERSION: &str = env!("CHIME_EXPORTER_RUSTC_VERSION");
/// The commit's date (or `SOURCE_DATE_EPOCH`), ISO 8601, UTC.
pub const BUILD_DATE: &str = env!("CHIME_EXPORTER_BUILD_DATE");

/// What `--version` prints after the program's name, as Prometheus's own
/// binaries do: version and revision, then build date and toolchain.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision: ",
    env!("CHIME_EXPORTER_REVISION"),
    ")\n  build date:    ",
    env!("CHIME_EXPORTER_BUILD_DATE"),
    "\n  rustc version: ",
    env!("CHIME_EXPORTER_RUSTC_VERSION"),
    "\n  platform:      ",
    env!("CHIME_EXPORTER_PLATFORM"),
);
