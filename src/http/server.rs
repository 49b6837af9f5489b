//! Accepting connections: plain or TLS (the web config is read again for
//! every connection), hyper's HTTP/1.1 with a header read timeout (HTTP/2
//! when TLS negotiates `h2`), a write deadline, a cap on open connections,
//! TCP keepalive, and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use super::deadline::{WriteDeadline, WRITE_MARGIN};
use super::h2::{self, Activity};
use super::listen::Listeners;
use super::routes::{handle, State};

/// How long a client may take to send its request headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

// An idle HTTP/2 connection gets as long as an HTTP/1 one to send a request.
const _: () = assert!(h2::IDLE_LIMIT.as_secs() == HEADER_READ_TIMEOUT.as_secs());

/// Requests at once on one HTTP/2 connection: a scraper needs one; the cap
/// keeps one client from opening hundreds of scrapes on one connection.
const MAX_STREAMS: u32 = 16;

/// How long in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Connections over the cap being answered at once; more are dropped
/// without an answer.
const REFUSALS: usize = 64;

/// Answers a connection over `--web.max-connections` with a 503 and closes
/// it: the request is read (up to a second) so that closing does not reset
/// the connection before the client has read the answer.
fn refuse(stream: tokio::net::TcpStream, refusals: &Arc<tokio::sync::Semaphore>) {
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _permit = permit;
        let mut stream = stream;
        let _ = stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 50\r\n\r\ntoo many open connections (--web.max-connections)\n")
            .await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    });
}

/// Answers a plain-HTTP request on the TLS port with a 400, as Go's servers
/// do, and completes the TLS handshake otherwise (within the header read
/// timeout, so a silent client cannot hold the connection).
async fn tls_handshake(
    stream: tokio::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    use tokio::io::AsyncWriteExt;
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return None;
    }
    // Every TLS connection starts with a handshake record (0x16).
    if first[0] != 0x16 {
        let mut stream = stream;
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
            )
            .await;
        let _ = stream.shutdown().await;
        return None;
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Accepts connections until `shutdown` resolves, then lets in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: Listeners,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    // HTTP/2 (over TLS, by ALPN, as the toolkit's `http2`): hyper's limits
    // on streams and header size; the handshake already had to finish
    // within the header read timeout.
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(Some(Duration::from_secs(60)));
    let connections = Arc::new(tokio::sync::Semaphore::new(
        state.web.max_connections.max(1),
    ));
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS));
    // A write that makes no progress for this long fails the connection.
    let stall_limit = state.default_budget + WRITE_MARGIN;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(15));
    // HTTP/2 connections are watched apart (see `super::h2`): told to stop
    // through this, and waited for until every receiver is gone.
    let (stop_h2, _) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Out of file descriptors and the like: wait a bit
                        // rather than spin.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                    // Over --web.max-connections: refused at once.
                    state.http_requests.inc("connection", 503);
                    refuse(stream, &refusals);
                    continue;
                };
                // Responses end with a small chunk (the telemetry) after a
                // large one: without TCP_NODELAY, Nagle's algorithm holds it
                // until the client's delayed ACK, 40 ms later.
                let _ = stream.set_nodelay(true);
                // A peer that vanished without a word is noticed.
                let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
                let state = Arc::clone(&state);
                let http = http.clone();
                let http2 = http2.clone();
                let watcher = graceful.watcher();
                let stopping = stop_h2.subscribe();
                tokio::spawn(async move {
                    let _permit = permit;
                    // The web config is read again for every connection, so
                    // rotated certificates apply at once (users and headers
                    // are checked again for every request).
                    let web = state.web.config.current();
                    let service = {
                        let state = Arc::clone(&state);
                        service_fn(move |req| handle(Arc::clone(&state), req))
                    };
                    let result = match web.tls.clone() {
                        None => {
                            let io = TokioIo::new(WriteDeadline::new(stream, stall_limit));
                            watcher.watch(http.serve_connection(io, service)).await
                        }
                        Some(tls) => match tls_handshake(stream, tls).await {
                            Some(tls_stream) => {
                                // ALPN offers h2 only when http2 is on.
                                let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                                let io = TokioIo::new(WriteDeadline::new(tls_stream, stall_limit));
                                if h2 {
                                    // Requests are tracked until their
                                    // bodies go, for the watchdog.
                                    let activity = Activity::new();
                                    let service = {
                                        let state = Arc::clone(&state);
                                        let activity = Arc::clone(&activity);
                                        service_fn(move |req| {
                                            let guard = activity.start();
                                            let state = Arc::clone(&state);
                                            async move {
                                                let resp = handle(state, req).await?;
                                                Ok::<_, Infallible>(resp.map(|b| b.holding(guard)))
                                            }
                                        })
                                    };
                                    h2::watch(
                                        http2.serve_connection(io, service),
                                        |conn| conn.graceful_shutdown(),
                                        activity,
                                        stall_limit,
                                        SHUTDOWN_GRACE,
                                        stopping,
                                    )
                                    .await
                                } else {
                                    watcher.watch(http.serve_connection(io, service)).await
                                }
                            }
                            None => Ok(()),
                        },
                    };
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down");
    let _ = stop_h2.send(true);
    let drained = async {
        tokio::join!(graceful.shutdown(), stop_h2.closed());
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    Ok(())
}
