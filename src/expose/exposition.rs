//! One scrape's exposition: the account families (shared chunks, rendered
//! once per change of each account, see [`super::render`]) followed by the
//! exporter's telemetry (encoded per scrape, its counters move), plain or
//! as one gzip member made of pieces compressed once (see [`super::gzip`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::gzip::{self, CompressorPool};
use super::render::AccountsRenderer;
use super::sdk::SdkRenderer;
use super::telemetry::Telemetry;
use super::text::{openmetrics_to_text, write_eof, Format};
use crate::collect::BotCache;
use crate::config::Collectors;

/// The body of one scrape, as lists of chunks to send in order.
pub type Chunks = Vec<Arc<[Bytes]>>;

/// Builds the exposition from the cache.
#[derive(Debug)]
pub struct Exposition {
    cache: Arc<BotCache>,
    telemetry: Telemetry,
    renderer: AccountsRenderer,
    /// The Chime SDK source's families (its cache is empty when it is off).
    sdk: Option<SdkRenderer>,
    compressors: CompressorPool,
    collectors: Collectors,
}

impl Exposition {
    /// `with_aws`: per-account series carry `aws_account_id` (targets from a
    /// config file).
    /// `collectors`: the account data left out.
    pub fn new(
        cache: Arc<BotCache>,
        telemetry: Telemetry,
        with_aws: bool,
        collectors: Collectors,
    ) -> Exposition {
        Exposition {
            cache,
            telemetry,
            renderer: AccountsRenderer::with_collectors(with_aws, collectors),
            sdk: None,
            compressors: CompressorPool::default(),
            collectors,
        }
    }

    /// The account data left out (the probe follows it too).
    pub fn collectors(&self) -> Collectors {
        self.collectors
    }

    /// Adds the Chime SDK source's families (after the accounts').
    pub fn with_sdk(mut self, sdk: SdkRenderer) -> Exposition {
        self.sdk = Some(sdk);
        self
    }

    /// The exposition for one scrape. Accounts without data are waited for
    /// up to `budget`; the others are served from their last snapshot.
    pub async fn scrape(&self, budget: Duration, gzipped: bool, format: Format) -> Chunks {
        match &self.sdk {
            // Both sources within the same budget, side by side.
            Some(sdk) => {
                tokio::join!(
                    self.cache.prepare_scrape(budget),
                    sdk.cache().prepare_scrape(budget)
                );
            }
            None => self.cache.prepare_scrape(budget).await,
        }
        let cache = &self.cache;
        let accounts = self
            .renderer
            .get(cache.generation(), gzipped, |out| cache.states_into(out));
        let calls = self.telemetry.calls(gzipped, format);
        let mut telemetry = String::with_capacity(4096);
        if self.telemetry.encode(&mut telemetry).is_err() {
            tracing::error!("encoding exporter metrics failed");
        }
        // The SDK families (small: rendered whole, see `super::sdk`) lead
        // the per-scrape piece. They are gauges, the same in both formats,
        // and are never rewritten: their label values come from the API
        // (names anyone with the right to name a bot chooses), and the
        // rewrite reads lines, not labels.
        let mut piece = String::with_capacity(telemetry.len() + 1024);
        if let Some(sdk) = &self.sdk {
            piece.push_str(&sdk.text());
        }
        match format {
            Format::OpenMetrics => {
                piece.push_str(&telemetry);
                write_eof(&mut piece);
            }
            Format::Text => openmetrics_to_text(&telemetry, &mut piece),
        }
        let telemetry = piece;
        if !gzipped {
            return vec![
                accounts.chunks,
                calls.chunks,
                Arc::from([Bytes::from(telemetry)]),
            ];
        }
        let telemetry = self.compressors.piece(telemetry.as_bytes());
        let mut checksum = accounts.checksum;
        checksum.append(calls.checksum);
        checksum.push(&telemetry);
        vec![
            Arc::from([Bytes::from_static(&gzip::HEADER)]),
            accounts.chunks,
            calls.chunks,
            Arc::from([telemetry.data, gzip::trailer(checksum)]),
        ]
    }
}
