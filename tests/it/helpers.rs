//! Helpers shared by the integration tests: start the real binary against a
//! fake Chime API, speak HTTP to it, read the exposition, wait for
//! conditions, send signals, find outside tools.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Tests run two at a time in this one binary. A few load the machine on
/// purpose (the soak, the rate-limit measurement) or measure it; they take
/// the machine alone ([`alone`]), and every other test that starts an
/// exporter waits for them ([`Turn`]).
static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// How many exporters this test thread runs, and the shared hold on the
    /// machine while it runs any.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
    static SHARED: RefCell<Option<RwLockReadGuard<'static, ()>>> = const { RefCell::new(None) };
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// The machine for this test alone, until dropped.
pub struct Alone(Option<RwLockWriteGuard<'static, ()>>);

/// Takes the machine for the calling test alone: waits for the exporters of
/// other tests to end, and keeps new ones from starting meanwhile.
pub fn alone() -> Alone {
    let guard = MACHINE.write().unwrap_or_else(|e| e.into_inner());
    ALONE.with(|a| a.set(true));
    Alone(Some(guard))
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
        self.0.take();
    }
}

/// A test's share of the machine while one of its exporters runs.
pub struct Turn(());

impl Turn {
    fn take() -> Turn {
        let alone = ALONE.with(Cell::get);
        RUNNING.with(|r| {
            if r.get() == 0 && !alone {
                let guard = MACHINE.read().unwrap_or_else(|e| e.into_inner());
                SHARED.with(|s| *s.borrow_mut() = Some(guard));
            }
            r.set(r.get() + 1);
        });
        Turn(())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            r.set(r.get().saturating_sub(1));
            if r.get() == 0 {
                SHARED.with(|s| s.borrow_mut().take());
            }
        });
    }
}

/// The binary under test, started with an environment that cannot reach
/// anything outside this machine.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    _home: TempDir,
    _turn: Turn,
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "chime-exporter-test-{tag}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `Accept` header Prometheus 3 sends by default.
pub const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

/// The secret access key every test process gets; it must never be printed.
pub const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTESTSECRETKEY";

/// A command for the binary with dummy credentials, no IMDS, an empty HOME
/// and no AWS config files.
pub fn exporter_command(home: &TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chime_exporter"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("CHIME_EXPORTER_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.0.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.0.join("credentials"))
        .env("HOME", &home.0)
        .env("NO_COLOR", "1");
    cmd
}

impl Exporter {
    /// Starts the exporter against `endpoint` with extra `args`, and waits
    /// until it listens.
    pub fn start(endpoint: &str, args: &[&str]) -> Exporter {
        let mut full = vec!["--chime.endpoint-url", endpoint];
        full.extend_from_slice(args);
        Self::start_with(&full, |_| {})
    }

    /// Starts the exporter with exactly `args` (plus a loopback listen
    /// address) and lets `setup` adjust the command.
    pub fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Exporter {
        let turn = Turn::take();
        let home = TempDir::new("home");
        let mut cmd = exporter_command(&home);
        cmd.args(["--web.listen-address", "127.0.0.1:0"]).args(args);
        setup(&mut cmd);
        Self::spawn(cmd, home, turn)
    }

    /// Starts the exporter as systemd would with socket activation: the
    /// listening socket `fd` becomes the process's fd 3, and `LISTEN_FDS`
    /// and `LISTEN_PID` (the pid the binary gets: a shell `exec`s it) say
    /// so.
    pub fn start_socket_activated(fd: std::os::fd::RawFd, args: &[&str]) -> Exporter {
        use std::os::unix::process::CommandExt;
        let turn = Turn::take();
        let home = TempDir::new("home");
        let template = exporter_command(&home);
        let mut cmd = Command::new("sh");
        for (key, value) in template.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd.arg("-c")
            .arg(r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#)
            .arg(template.get_program())
            .args(args);
        // SAFETY: dup2 and fcntl are async-signal-safe; the closure runs in
        // the child between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let flags = libc::fcntl(3, libc::F_GETFD);
                libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                Ok(())
            });
        }
        Self::spawn(cmd, home, turn)
    }

    /// Spawns `cmd` and waits until the exporter says where it listens (the
    /// first address it logs).
    fn spawn(mut cmd: Command, home: TempDir, turn: Turn) -> Exporter {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn chime_exporter");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out_sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out_sink.lock().unwrap().push(line);
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Either log format: the record, not the line's form.
                let address = parse_log_line(&line).ok().and_then(|record| {
                    (log_field(&record, "msg") == Some("listening"))
                        .then(|| log_field(&record, "address").map(str::to_owned))
                        .flatten()
                });
                // Kept before it is announced, so that `listening` has it.
                sink.lock().unwrap().push(line);
                if let Some(addr) = address {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "exporter did not start; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Exporter {
            child,
            addr,
            stderr: lines,
            _home: home,
            _turn: turn,
        }
    }

    /// Every address the exporter said it listens on.
    pub fn listening(&self) -> Vec<SocketAddr> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| parse_log_line(l).ok())
            .filter(|r| log_field(r, "msg") == Some("listening"))
            .filter_map(|r| log_field(&r, "address")?.parse().ok())
            .collect()
    }

    /// Everything the process wrote, standard output and error.
    pub fn output(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[]).await
    }

    /// A scrape as Prometheus makes it (asking for OpenMetrics first).
    pub async fn metrics(&self) -> Metrics {
        let resp = http(
            self.addr,
            "GET",
            "/metrics",
            &[("Accept", OPENMETRICS_ACCEPT)],
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        Metrics::parse(&resp.body)
    }

    /// Scrapes until `pred` holds, or panics after `timeout`.
    pub async fn metrics_until(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.metrics().await;
            if pred(&m) {
                return m;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for: {what}\nlast scrape:\n{}", m.text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGHUP`, …) to the process.
    pub fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid");
        // SAFETY: kill(2) with the pid of our own child and a valid signal.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits until `GET /-/ready` answers 200.
    pub async fn ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.get("/-/ready").await.status != 200 {
            assert!(Instant::now() < deadline, "not ready after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit (after a signal), with a limit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub raw_body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection, read to the end.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("response within 60s")
        .expect("read");
    parse_response(&raw)
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_owned();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            break;
        };
        body = &body[eol + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
    out
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body_bytes = raw.get(split + 4..).unwrap_or_default().to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body_bytes = dechunk(&body_bytes);
    }
    let body = String::from_utf8_lossy(&body_bytes).into_owned();
    let raw_body = body_bytes;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body,
        raw_body,
    }
}

/// A parsed exposition: every sample with its labels.
pub struct Metrics {
    pub text: String,
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label value must be quoted in {s}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            samples.push((name.to_owned(), labels, value));
        }
        Metrics {
            text: text.to_owned(),
            samples,
        }
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn all(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect()
    }

    /// The one sample of `name` with `labels`, if there is exactly one.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let all = self.all(name, labels);
        assert!(
            all.len() <= 1,
            "{name} {labels:?} matches {} samples",
            all.len()
        );
        all.first().copied()
    }

    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.all(name, labels).iter().sum()
    }

    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.all(name, labels).len()
    }
}

/// The path of an outside tool (promtool, prometheus, hadolint, …). The
/// tests that need one are `#[ignore = "needs …"]`, so they run only when
/// asked for (`--include-ignored`, as CI does after installing the tools);
/// then a missing tool fails the test: it is never reported as passed.
pub fn tool(name: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} is needed by this test and is not on PATH (see .ci/run for how CI installs it)")
        })
}

/// Waits until `cond` holds, checking every 20 ms; panics after `timeout`
/// naming `what`.
pub async fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fake AWS STS on loopback that answers AssumeRole (query protocol) with
/// fresh credentials, and records what it was asked.
pub struct FakeSts {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// What FakeSts answers to GetCallerIdentity.
pub const STS_IDENTITY_XML: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::333333333333:user/checker</Arn><UserId>AIDACHECKER</UserId><Account>333333333333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>fake-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>";

/// The access key id FakeSts hands out.
pub const STS_ACCESS_KEY: &str = "ASIAFAKESTSASSUMED01";

impl Drop for FakeSts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSts {
    pub async fn start() -> FakeSts {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    // One request per connection: read the head, then the
                    // body by its Content-Length.
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        raw.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&raw).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                seen.lock().unwrap().push(body.to_owned());
                                break;
                            }
                        }
                    }
                    let expires = humantime::format_rfc3339_seconds(
                        std::time::SystemTime::now() + Duration::from_secs(3600),
                    );
                    let asked = seen.lock().unwrap().last().cloned().unwrap_or_default();
                    let xml = if asked.contains("Action=GetCallerIdentity") {
                        STS_IDENTITY_XML.to_owned()
                    } else {
                        format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{STS_ACCESS_KEY}</AccessKeyId><SecretAccessKey>fakeStsSecretKey</SecretAccessKey><SessionToken>fakeStsSessionToken</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:chime-exporter</AssumedRoleId><Arn>arn:aws:sts::222222222222:assumed-role/chime-reader/chime-exporter</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>fake-1</RequestId></ResponseMetadata></AssumeRoleResponse>"
                    )
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                        xml.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                });
            }
        });
        FakeSts {
            url,
            requests,
            task,
        }
    }
}

/// One request on a connection that stays open (keep-alive), and exactly
/// its response, read by `Content-Length` or chunked encoding.
pub async fn exchange<S>(
    stream: &mut S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read_more = |raw: &mut Vec<u8>, n: usize, buf: &[u8]| raw.extend_from_slice(&buf[..n]);
    loop {
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = &raw[end + 4..];
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let complete = match length {
                Some(n) => body.len() >= n,
                None if head.contains("transfer-encoding: chunked") => {
                    body.windows(5).any(|w| w == b"0\r\n\r\n")
                }
                None => true,
            };
            if complete {
                return Ok(parse_response(&raw));
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .map_err(|_| "read timed out".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed".into());
        }
        read_more(&mut raw, n, &buf);
    }
}

/// A basic auth header value.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// One log line's keys and values, in order, from either format (logfmt or
/// JSON). Strict: an error for anything that is not a whole line of one of
/// them, and for a key that appears twice.
pub fn parse_log_line(line: &str) -> Result<Vec<(String, String)>, String> {
    let pairs = if line.starts_with('{') {
        parse_json_object(line)?
    } else {
        parse_logfmt(line)?
    };
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        if !seen.insert(k.as_str()) {
            return Err(format!("key {k:?} twice in: {line}"));
        }
    }
    Ok(pairs)
}

/// The value of `key` in a parsed log line.
pub fn log_field<'a>(record: &'a [(String, String)], key: &str) -> Option<&'a str> {
    record
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A JSON object's members in order, duplicates kept (serde_json's own maps
/// would silently keep the last).
fn parse_json_object(line: &str) -> Result<Vec<(String, String)>, String> {
    struct Members(Vec<(String, String)>);
    impl<'de> serde::Deserialize<'de> for Members {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Members, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                        if v.is_object() || v.is_array() {
                            return Err(serde::de::Error::custom(format!(
                                "{k}: nested values have no place in a log line"
                            )));
                        }
                        let text = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        out.push((k, text));
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Members>(line)
        .map(|m| m.0)
        .map_err(|e| format!("{e}: {line}"))
}

/// logfmt: `key=value` or `key="quoted \"value\""`, separated by spaces.
fn parse_logfmt(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=').ok_or_else(|| format!("no '=' in: {line}"))?;
        let key = &rest[..eq];
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("bad key {key:?} in: {line}"));
        }
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("unfinished escape in: {line}")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated quote in: {line}")),
                }
            };
            rest = &quoted[end + 1..];
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return Err(format!("text after a quoted value in: {line}"));
            }
            value
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let value = &rest[..end];
            if value.contains(['"', '=']) {
                return Err(format!("unquoted value {value:?} in: {line}"));
            }
            rest = &rest[end..];
            value.to_owned()
        };
        out.push((key.to_owned(), value));
    }
    Ok(out)
}
