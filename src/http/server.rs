//! Accepting connections: plain or TLS (the web config is read again for
//! every connection), hyper's HTTP/1.1 with a header read timeout, and
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::routes::{handle, State};

/// How long a client may take to send its request headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests get to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

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
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
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
                // Responses end with a small chunk (the telemetry) after a
                // large one: without TCP_NODELAY, Nagle's algorithm holds it
                // until the client's delayed ACK, 40 ms later.
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let http = http.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // The web config is read again for every connection, so
                    // rotated certificates and changed users apply at once.
                    let web = state.web.config.current();
                    let service = {
                        let (state, web) = (Arc::clone(&state), Arc::clone(&web));
                        service_fn(move |req| handle(Arc::clone(&state), Arc::clone(&web), req))
                    };
                    let result = match web.tls.clone() {
                        None => watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await,
                        Some(tls) => match tls_handshake(stream, tls).await {
                            Some(tls_stream) => {
                                watcher.watch(http.serve_connection(TokioIo::new(tls_stream), service)).await
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
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    Ok(())
}
