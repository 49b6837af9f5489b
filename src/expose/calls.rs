//! `chime_api_requests_total` and `chime_api_errors_total`: the API calls
//! per watched account, rendered one account at a time.
//!
//! These are the only telemetry families that grow with the accounts: with
//! ten thousand accounts they are tens of thousands of lines, and encoding
//! them afresh at every scrape cost more than the rest of the scrape. Like
//! the account families (see [`super::render`]), the accounts' lines are
//! rendered in groups of consecutive accounts (see [`super::group`]), once
//! per change of a member's counts ([`AccountCalls::version`]), and kept,
//! plain and/or compressed; a scrape between two calls reuses the assembled
//! list, and a scrape after calls re-renders only the groups of the
//! accounts that made them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::group::Grouper;
use super::gzip::{Checksum, Compressor, Piece};
use super::render::AccountsPart;
use super::text::{write_descriptor_in, write_sample, Format, MetricType, Value};
use crate::api::{AccountCalls, ApiMetrics, Operation};

/// The two families: name (as in `# HELP`) and help.
const FAMILIES: [(&str, &str); 2] = [
    (
        "chime_api_requests",
        "HTTP requests sent to the Chime API, each page and each retry counted.",
    ),
    (
        "chime_api_errors",
        "Failed Chime API requests, by AWS error code or failure kind (a bounded set).",
    ),
];

/// A group ends after at most this many accounts (a few KB of text)...
const GROUP_ACCOUNTS: usize = 64;
/// ... or, on average, every this many (see [`Grouper`]).
const GROUP_SPREAD: u64 = 32;

/// The lines of a run of accounts, as of one version of each one's counts.
#[derive(Debug)]
struct Block {
    calls: Vec<Arc<AccountCalls>>,
    versions: Vec<u64>,
    plain: Option<[Bytes; 2]>,
    gzip: Option<[Piece; 2]>,
}

impl Block {
    fn new(calls: Vec<Arc<AccountCalls>>) -> Block {
        Block {
            versions: calls.iter().map(|c| c.version()).collect(),
            calls,
            plain: None,
            gzip: None,
        }
    }

    fn same_accounts(&self, calls: &[Arc<AccountCalls>]) -> bool {
        self.calls.len() == calls.len()
            && self.calls.iter().zip(calls).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

#[derive(Debug, Default)]
struct State {
    /// [`ApiMetrics::changes`] as of the blocks.
    changes: Option<u64>,
    /// The watched accounts in order, then the accounts not watched.
    blocks: Vec<Block>,
    /// Per encoding (plain, gzip), once asked for.
    /// By format, then encoding (plain, gzip).
    assembled: [[Option<AccountsPart>; 2]; 2],
    compressor: Compressor,
}

/// Keeps the rendered API call families between scrapes.
#[derive(Debug)]
pub struct CallsRenderer {
    api: Arc<ApiMetrics>,
    /// Each family's descriptor by format (the two name a counter
    /// differently), plain and compressed.
    headers: [[Bytes; 2]; 2],
    header_pieces: [[Piece; 2]; 2],
    state: Mutex<State>,
}

/// The samples of both families for a run of accounts.
fn render(accounts: &[Arc<AccountCalls>]) -> [String; 2] {
    let mut requests = String::new();
    let mut errors = String::new();
    for calls in accounts {
        render_into(calls, &mut requests, &mut errors);
    }
    [requests, errors]
}

/// One account's samples of both families.
fn render_into(calls: &AccountCalls, requests: &mut String, errors: &mut String) {
    let account = calls.account_id();
    for operation in Operation::ALL {
        let n = calls.requests(operation);
        if n > 0 {
            let labels = [("operation", operation.as_str()), ("account_id", account)];
            write_sample(
                requests,
                "chime_api_requests_total",
                &labels,
                &[],
                Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            );
        }
    }
    for (operation, kind, n) in calls.errors() {
        let labels = [
            ("operation", operation.as_str()),
            ("account_id", account),
            ("error", kind.as_str()),
        ];
        write_sample(
            errors,
            "chime_api_errors_total",
            &labels,
            &[],
            Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
        );
    }
}

impl CallsRenderer {
    pub fn new(api: Arc<ApiMetrics>) -> CallsRenderer {
        let headers = [Format::OpenMetrics, Format::Text].map(|format| {
            FAMILIES.map(|(name, help)| {
                let mut text = String::new();
                write_descriptor_in(&mut text, name, help, MetricType::Counter, format);
                Bytes::from(text)
            })
        });
        let mut compressor = Compressor::new();
        let header_pieces = headers
            .clone()
            .map(|pair| pair.map(|text| compressor.piece(&text)));
        CallsRenderer {
            api,
            headers,
            header_pieces,
            state: Mutex::new(State {
                compressor,
                ..State::default()
            }),
        }
    }

    /// Both families, plain or as gzip pieces.
    pub fn get(&self, gzipped: bool, format: Format) -> AccountsPart {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        // Read before the table and the versions: a count made while they
        // are read moves it again, and the next scrape looks again.
        let changes = self.api.changes();
        if state.changes != Some(changes) {
            self.update(state);
            state.changes = Some(changes);
            state.assembled = Default::default();
        }
        let encoding = usize::from(gzipped);
        if let Some(part) = &state.assembled[format as usize][encoding] {
            return part.clone();
        }
        for block in &mut state.blocks {
            if gzipped && block.gzip.is_none() {
                let [requests, errors] = render(&block.calls);
                let pieces = state.compressor.pieces(&[requests, errors]);
                let mut pieces = pieces.into_iter();
                block.gzip = Some([
                    pieces.next().unwrap_or_default(),
                    pieces.next().unwrap_or_default(),
                ]);
            } else if !gzipped && block.plain.is_none() {
                block.plain = Some(render(&block.calls).map(Bytes::from));
            }
        }
        let part = self.assemble(state, gzipped, format);
        state.assembled[format as usize][encoding] = Some(part.clone());
        part
    }

    /// Brings the blocks in line with the table: the accounts are grouped
    /// again; a group with the same accounts as before keeps its lines
    /// unless a member's counts moved.
    fn update(&self, state: &mut State) {
        let table = self.api.table();
        let mut grouper = Grouper::new(GROUP_ACCOUNTS, GROUP_SPREAD);
        let mut runs: Vec<Vec<Arc<AccountCalls>>> = Vec::new();
        let mut run = Vec::new();
        for calls in table.accounts() {
            if grouper.before(1) && !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
            run.push(Arc::clone(calls));
            if grouper.after(calls.account_id()) {
                runs.push(std::mem::take(&mut run));
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        // The accounts not watched, last, alone.
        runs.push(vec![Arc::clone(self.api.unwatched())]);
        let mut old: HashMap<*const AccountCalls, Block> = std::mem::take(&mut state.blocks)
            .into_iter()
            .filter_map(|b| Some((Arc::as_ptr(b.calls.first()?), b)))
            .collect();
        state.blocks = runs
            .into_iter()
            .map(|run| {
                let kept = old
                    .remove(&Arc::as_ptr(&run[0]))
                    .filter(|b| b.same_accounts(&run));
                match kept {
                    Some(mut block) => {
                        let versions: Vec<u64> = run.iter().map(|c| c.version()).collect();
                        if versions != block.versions {
                            block.versions = versions;
                            block.plain = None;
                            block.gzip = None;
                        }
                        block
                    }
                    None => Block::new(run),
                }
            })
            .collect();
    }

    fn assemble(&self, state: &State, gzipped: bool, format: Format) -> AccountsPart {
        let (headers, header_pieces) = (
            &self.headers[format as usize],
            &self.header_pieces[format as usize],
        );
        let mut chunks = Vec::with_capacity(2 * (state.blocks.len() + 1));
        let mut checksum = Checksum::default();
        for family in 0..FAMILIES.len() {
            if gzipped {
                checksum.push(&header_pieces[family]);
                chunks.push(header_pieces[family].data.clone());
            } else {
                chunks.push(headers[family].clone());
            }
            for block in &state.blocks {
                if gzipped {
                    if let Some(piece) = block.gzip.as_ref().map(|g| &g[family]) {
                        if piece.text_len() > 0 {
                            checksum.push(piece);
                            chunks.push(piece.data.clone());
                        }
                    }
                } else if let Some(text) = block.plain.as_ref().map(|p| &p[family]) {
                    if !text.is_empty() {
                        chunks.push(text.clone());
                    }
                }
            }
        }
        AccountsPart {
            chunks: chunks.into(),
            checksum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorKind;
    use std::io::Read as _;

    fn plain(renderer: &CallsRenderer) -> String {
        let part = renderer.get(false, Format::OpenMetrics);
        part.chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    fn gunzip(renderer: &CallsRenderer) -> String {
        let part = renderer.get(true, Format::OpenMetrics);
        let mut member = super::super::gzip::HEADER.to_vec();
        for chunk in part.chunks.iter() {
            member.extend_from_slice(chunk);
        }
        member.extend_from_slice(&super::super::gzip::trailer(part.checksum));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&member[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn among_many_accounts_only_the_group_that_called_is_rendered_again() {
        let api = Arc::new(ApiMetrics::default());
        let ids: Vec<String> = (0..2000).map(|i| format!("acct-{i}")).collect();
        api.set_watched(ids.iter().map(String::as_str));
        for id in &ids {
            api.request(Operation::ListBots, id);
        }
        let renderer = CallsRenderer::new(Arc::clone(&api));
        let before = renderer.get(true, Format::OpenMetrics);
        // Groups, not one chunk per account.
        assert!(
            before.chunks.len() < 2000 / 8,
            "{} chunks",
            before.chunks.len()
        );
        api.request(Operation::ListBots, "acct-1234");
        let after = renderer.get(true, Format::OpenMetrics);
        let new = after
            .chunks
            .iter()
            .filter(|c| !before.chunks.iter().any(|b| b.as_ptr() == c.as_ptr()))
            .count();
        assert_eq!(new, 1, "only acct-1234's group (requests; no errors)");
        assert!(gunzip(&renderer).contains(
            "chime_api_requests_total{operation=\"ListBots\",account_id=\"acct-1234\"} 2\n"
        ));
    }

    #[test]
    fn only_the_accounts_whose_counts_moved_are_rendered_again() {
        let api = Arc::new(ApiMetrics::default());
        api.set_watched(["a", "b", "c"]);
        api.request(Operation::ListBots, "a");
        api.request(Operation::ListBots, "b");
        api.error(Operation::ListBots, "b", ErrorKind::Throttled);
        api.request(Operation::GetBot, "stranger");
        let renderer = CallsRenderer::new(Arc::clone(&api));
        let first = renderer.get(false, Format::OpenMetrics);
        let text = plain(&renderer);
        assert_eq!(
            text,
            "# HELP chime_api_requests HTTP requests sent to the Chime API, each page and each retry counted.\n\
             # TYPE chime_api_requests counter\n\
             chime_api_requests_total{operation=\"ListBots\",account_id=\"a\"} 1\n\
             chime_api_requests_total{operation=\"ListBots\",account_id=\"b\"} 1\n\
             chime_api_requests_total{operation=\"GetBot\",account_id=\"\"} 1\n\
             # HELP chime_api_errors Failed Chime API requests, by AWS error code or failure kind (a bounded set).\n\
             # TYPE chime_api_errors counter\n\
             chime_api_errors_total{operation=\"ListBots\",account_id=\"b\",error=\"ThrottledClientException\"} 1\n"
        );
        assert_eq!(gunzip(&renderer), text);

        // Nothing moved: the same list.
        assert!(Arc::ptr_eq(
            &first.chunks,
            &renderer.get(false, Format::OpenMetrics).chunks
        ));

        // One call of b: its group's lines are new, the rest are shared.
        api.request(Operation::ListBots, "b");
        let second = renderer.get(false, Format::OpenMetrics);
        let new = second
            .chunks
            .iter()
            .filter(|c| !first.chunks.iter().any(|f| f.as_ptr() == c.as_ptr()))
            .count();
        assert!((1..=2).contains(&new), "{new} new chunks");
        assert!(plain(&renderer).contains("account_id=\"b\"} 2\n"));
        assert!(gunzip(&renderer).contains("account_id=\"b\"} 2\n"));

        // b goes: its lines go; a call still in flight for it counts
        // without its ID.
        api.set_watched(["a", "c"]);
        api.request(Operation::ListBots, "b");
        let text = plain(&renderer);
        assert!(!text.contains("account_id=\"b\""), "{text}");
        assert!(
            text.contains("{operation=\"ListBots\",account_id=\"\"} 1\n"),
            "{text}"
        );
        assert_eq!(gunzip(&renderer), text);
    }
}
