//! The sockets the server accepts on: every `--web.listen-address`, or the
//! sockets systemd passes (`--web.systemd-socket`).
//!
//! `:PORT` is one dual-stack IPv6 socket (`IPV6_V6ONLY` off), which takes
//! IPv4 connections as mapped addresses: on an IPv6-only pod (EKS in IPv6
//! mode) binding 0.0.0.0 left the exporter unreachable, and two sockets
//! (0.0.0.0 and [::]) fail where the host maps one onto the other. A host
//! without IPv6 gets 0.0.0.0 instead. A host name listens on every address
//! it resolves to, all on one port (the first one's, when the port is 0).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};

use crate::config::ListenAddress;

/// Connections waiting to be accepted, as the kernel's default allows.
const BACKLOG: i32 = 1024;

/// Why the exporter could not listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: io::Error },
    #[error("cannot resolve {address}: {source}")]
    Resolve { address: String, source: io::Error },
    #[error("--web.systemd-socket: {0}")]
    Systemd(String),
}

/// The listening sockets; see the module documentation.
#[derive(Debug)]
pub struct Listeners {
    list: Vec<TcpListener>,
    /// Where the next accept starts looking, so that a busy socket does not
    /// starve the others.
    next: std::sync::atomic::AtomicUsize,
}

impl Listeners {
    /// Binds every address, in order.
    pub async fn bind(addresses: &[ListenAddress]) -> Result<Listeners, ListenError> {
        let mut list = Vec::new();
        for address in addresses {
            match address {
                ListenAddress::Any(port) => list.push(bind_any(*port)?),
                ListenAddress::Socket(addr) => list.push(bind_one(*addr, false)?),
                ListenAddress::Host(host, port) => {
                    let resolved = tokio::net::lookup_host((host.as_str(), *port))
                        .await
                        .map_err(|source| ListenError::Resolve {
                            address: address.to_string(),
                            source,
                        })?;
                    let mut addrs: Vec<SocketAddr> = Vec::new();
                    for a in resolved {
                        if !addrs.contains(&a) {
                            addrs.push(a);
                        }
                    }
                    let mut port = *port;
                    for mut addr in addrs {
                        addr.set_port(port);
                        let listener = bind_one(addr, false)?;
                        // Port 0: the others take the port the first got.
                        port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
                        list.push(listener);
                    }
                }
            }
        }
        Ok(Listeners::from(list))
    }

    /// The listening TCP sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`).
    pub fn from_systemd() -> Result<Listeners, ListenError> {
        let mut fds = listenfd::ListenFd::from_env();
        let mut list = Vec::new();
        for i in 0..fds.len() {
            let listener = fds
                .take_tcp_listener(i)
                .map_err(|e| ListenError::Systemd(format!("socket {i}: {e}")))?
                .ok_or_else(|| {
                    ListenError::Systemd(format!("socket {i} is not a listening TCP socket"))
                })?;
            listener
                .set_nonblocking(true)
                .map_err(|e| ListenError::Systemd(e.to_string()))?;
            list.push(
                TcpListener::from_std(listener).map_err(|e| ListenError::Systemd(e.to_string()))?,
            );
        }
        if list.is_empty() {
            return Err(ListenError::Systemd(
                "no sockets were passed (LISTEN_FDS/LISTEN_PID unset or not for this process)"
                    .into(),
            ));
        }
        Ok(Listeners::from(list))
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.list
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The next connection on any of the sockets.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        use std::sync::atomic::Ordering;
        std::future::poll_fn(|cx| {
            let n = self.list.len();
            let start = self.next.load(Ordering::Relaxed);
            for k in 0..n {
                let i = (start + k) % n;
                if let Poll::Ready(result) = self.list[i].poll_accept(cx) {
                    self.next.store((i + 1) % n, Ordering::Relaxed);
                    return Poll::Ready(result);
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl From<Vec<TcpListener>> for Listeners {
    fn from(list: Vec<TcpListener>) -> Listeners {
        Listeners {
            list,
            next: Default::default(),
        }
    }
}

/// `:PORT`: dual-stack where the host has IPv6, else every IPv4 address.
fn bind_any(port: u16) -> Result<TcpListener, ListenError> {
    match bind_one(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), true) {
        Ok(listener) => Ok(listener),
        Err(ListenError::Bind { source, .. })
            if matches!(source.raw_os_error(), Some(libc_errno::EAFNOSUPPORT))
                || matches!(source.raw_os_error(), Some(libc_errno::EADDRNOTAVAIL)) =>
        {
            tracing::info!("no IPv6 on this host; listening on IPv4 only");
            bind_one(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), false)
        }
        Err(e) => Err(e),
    }
}

/// The two errors that mean "this host has no IPv6" (Linux values; the
/// exporter builds for Linux).
mod libc_errno {
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EADDRNOTAVAIL: i32 = 99;
}

/// One listening socket on `addr`; `dual_stack` turns `IPV6_V6ONLY` off.
fn bind_one(addr: SocketAddr, dual_stack: bool) -> Result<TcpListener, ListenError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let fail = |source: io::Error| ListenError::Bind {
        address: if dual_stack {
            format!(":{}", addr.port())
        } else {
            addr.to_string()
        },
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack).map_err(fail)?;
    }
    // As Go's net.Listen: a restart does not wait for old connections'
    // TIME_WAIT.
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    TcpListener::from_std(socket.into()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn any_port_takes_ipv4_and_ipv6_on_one_socket() {
        let listeners = Listeners::bind(&[ListenAddress::Any(0)]).await.unwrap();
        let addrs = listeners.local_addrs();
        assert_eq!(addrs.len(), 1);
        let port = addrs[0].port();
        // Whichever family the host has, IPv4 loopback reaches it.
        let v4 = TcpStream::connect(("127.0.0.1", port));
        let (accepted, connected) = tokio::join!(listeners.accept(), v4);
        assert!(accepted.is_ok() && connected.is_ok());
        if addrs[0].is_ipv6() {
            let v6 = TcpStream::connect(("::1", port));
            let (accepted, connected) = tokio::join!(listeners.accept(), v6);
            assert!(accepted.is_ok() && connected.is_ok());
        }
    }

    #[tokio::test]
    async fn several_addresses_and_a_host_name_on_one_port() {
        let listeners = Listeners::bind(&[
            ListenAddress::Socket("127.0.0.1:0".parse().unwrap()),
            ListenAddress::Host("localhost".into(), 0),
        ])
        .await
        .unwrap();
        let addrs = listeners.local_addrs();
        assert!(addrs.len() >= 2, "{addrs:?}");
        // Every address of `localhost` shares one port.
        let ports: std::collections::HashSet<u16> = addrs[1..].iter().map(|a| a.port()).collect();
        assert_eq!(ports.len(), 1, "{addrs:?}");
        for addr in &addrs {
            let (accepted, connected) = tokio::join!(listeners.accept(), TcpStream::connect(addr));
            assert!(accepted.is_ok() && connected.is_ok(), "{addr}");
        }
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_naming_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = Listeners::bind(&[ListenAddress::Socket(addr)])
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
