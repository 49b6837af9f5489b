//! The integration tests, in one binary: the real `chime_exporter` binary,
//! with the real AWS SDK inside it, over loopback HTTP against the fake
//! Chime API of this repository (`chime_exporter::fake`).
//!
//! `cargo test` runs every test that needs only Rust. The tests that need an
//! outside tool (promtool, Prometheus, hadolint, kubernetes-validate,
//! botocore's model) are `#[ignore]`d with the tool named, so that a machine
//! without it reports them as ignored, never as passed;
//! `cargo test -- --include-ignored` runs them too (CI does, after
//! installing every tool), and there a missing tool fails the test.

mod helpers;

mod deploy;
mod exporter;
mod faults;
mod hardening;
mod layers;
mod model;
mod observe;
mod prometheus;
mod properties;
mod scale;
mod sdk;
mod security;
mod setups;
mod soak;
mod surface;
mod web;
