//! The response body: shared chunks sent as they are, small ones gathered.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

/// A response body made of shared chunks: the account families (rendered
/// once per change and shared by every scrape) and the per-scrape telemetry.
/// Large chunks go out as they are, without copying; runs of small ones
/// (one account's few lines, or their gzip pieces) are gathered into one
/// frame so that writing them does not take a system call each.
#[derive(Debug, Default)]
pub struct Body {
    lists: std::collections::VecDeque<Arc<[Bytes]>>,
    /// Position in the first list.
    next: usize,
    remaining: u64,
    /// When the body must have been sent by (see `http::deadline`).
    deadline: Option<Instant>,
    /// Kept until the body is dropped: an HTTP/2 request stays open (see
    /// `http::h2`) until its body is sent or abandoned.
    guard: Option<super::h2::RequestGuard>,
}

/// Chunks at least this long are sent as they are: hyper queues them
/// (referenced, not copied) and writes up to 16 at a time with one `writev`.
/// Most of a gzip exposition is pieces of a few KB, one per account and
/// family, so copying them would put hundreds of KB of transient buffers on
/// every connection being written.
const SMALL_CHUNK: usize = 1024;
/// Runs of smaller chunks (an account's one-line families) are gathered into
/// frames of up to this size.
const FRAME: usize = 16 * 1024;

impl Body {
    pub fn empty() -> Body {
        Body::default()
    }

    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Body {
        let list: Arc<[Bytes]> = chunks.into_iter().collect();
        Body::from_lists([list])
    }

    /// A body made of the chunks of each list, in order.
    pub fn from_lists(lists: impl IntoIterator<Item = Arc<[Bytes]>>) -> Body {
        let lists: std::collections::VecDeque<Arc<[Bytes]>> = lists.into_iter().collect();
        let remaining = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|c| c.len() as u64)
            .sum();
        Body {
            lists,
            next: 0,
            remaining,
            deadline: None,
            guard: None,
        }
    }

    /// The body fails (and its connection with it) if it is still being
    /// sent at `deadline`: a client that reads, but too slowly, cannot hold
    /// a large answer for ever.
    /// Holds `guard` until the body is dropped.
    pub(crate) fn holding(mut self, guard: super::h2::RequestGuard) -> Body {
        self.guard = Some(guard);
        self
    }

    pub fn with_deadline(mut self, deadline: Instant) -> Body {
        self.deadline = Some(deadline);
        self
    }

    /// The next non-empty chunk, without taking it.
    fn peek(&mut self) -> Option<&Bytes> {
        loop {
            let front = self.lists.front()?;
            match front.get(self.next) {
                Some(chunk) if chunk.is_empty() => self.next += 1,
                Some(_) => break,
                None => {
                    self.lists.pop_front();
                    self.next = 0;
                }
            }
        }
        self.lists.front().and_then(|l| l.get(self.next))
    }

    fn take(&mut self) -> Option<Bytes> {
        let chunk = self.peek()?.clone();
        self.next += 1;
        self.remaining -= chunk.len() as u64;
        Some(chunk)
    }

    /// The next frame: a large chunk as it is, or small chunks gathered.
    fn next_frame(&mut self) -> Option<Bytes> {
        let first = self.take()?;
        if first.len() >= SMALL_CHUNK {
            return Some(first);
        }
        let mut gathered: Option<bytes::BytesMut> = None;
        while let Some(len) = self.peek().map(Bytes::len) {
            let so_far = gathered.as_ref().map_or(first.len(), |g| g.len());
            if len >= SMALL_CHUNK || so_far + len > FRAME {
                break;
            }
            let buf = gathered.get_or_insert_with(|| {
                let cap =
                    usize::try_from(self.remaining).map_or(FRAME, |r| r.min(FRAME) + first.len());
                let mut buf = bytes::BytesMut::with_capacity(cap);
                buf.extend_from_slice(&first);
                buf
            });
            if let Some(chunk) = self.take() {
                buf.extend_from_slice(&chunk);
            }
        }
        Some(gathered.map_or(first, bytes::BytesMut::freeze))
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::from_chunks([bytes])
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if self
            .deadline
            .is_some_and(|d| self.remaining > 0 && Instant::now() > d)
        {
            return std::task::Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the answer was not read within its deadline",
            ))));
        }
        std::task::Poll::Ready(self.next_frame().map(|c| Ok(hyper::body::Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_sends_large_chunks_as_they_are_and_gathers_small_ones() {
        let big = Bytes::from(vec![b'b'; 100_000]);
        let small: Vec<Bytes> = (0..5000u32)
            .map(|i| Bytes::from(format!("line {i}\n")))
            .collect();
        let mut expected = Vec::new();
        let mut lists: Vec<Arc<[Bytes]>> = vec![Arc::from(small.clone()), Arc::from([])];
        lists.push(Arc::from([
            Bytes::new(),
            big.clone(),
            Bytes::from_static(b"# EOF\n"),
        ]));
        for c in lists.iter().flat_map(|l| l.iter()) {
            expected.extend_from_slice(c);
        }
        let mut body = Body::from_lists(lists);
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(expected.len() as u64)
        );
        let mut frames = Vec::new();
        while let Some(frame) = body.next_frame() {
            frames.push(frame);
        }
        assert!(hyper::body::Body::is_end_stream(&body));
        assert_eq!(frames.concat(), expected);
        // 5,000 small chunks went out in a few frames of at most FRAME bytes.
        assert!(frames.len() < 10, "{} frames", frames.len());
        assert!(frames
            .iter()
            .all(|f| f.len() <= FRAME || f.len() == big.len()));
        // The large chunk was not copied.
        assert!(frames.iter().any(|f| f.as_ptr() == big.as_ptr()));
    }
}
