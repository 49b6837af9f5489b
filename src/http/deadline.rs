//! A connection that stops taking what the server writes is dropped: the
//! socket's writes get a deadline ([`WriteDeadline`]), and so does each
//! response body (`Body::with_deadline`). Without them a client that asks
//! for a large exposition and never reads holds its connection, and the
//! megabytes queued for it, for as long as it likes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Added to a scrape's budget to make its write deadline: time for the
/// answer to travel to a reader that reads.
pub const WRITE_MARGIN: Duration = Duration::from_secs(20);

/// An I/O stream whose writes fail once they have made no progress for
/// `limit`.
pub struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// Running while a write waits for the socket.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Progress resets the deadline; waiting checks it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_stalled_write_fails_after_the_limit_and_progress_resets_it() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = WriteDeadline::new(server, Duration::from_millis(200));
        // The reader reads: writes go on however long they take in all.
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut buf = vec![0u8; 1024];
            let mut total = 0;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                total += client.read(&mut buf).await.unwrap();
            }
            (client, total)
        });
        let data = vec![7u8; 600];
        server.write_all(&data).await.unwrap();
        let (client, total) = reader.await.unwrap();
        assert!(total > 0);
        // The reader stops: the next write that cannot go out fails.
        let started = std::time::Instant::now();
        let err = server.write_all(&vec![1u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(client);
    }
}
