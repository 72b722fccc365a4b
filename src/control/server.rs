//! The control socket (one JSON line in, one JSON line out) and the Prometheus endpoint
//! (`GET /metrics`), served on a current-thread tokio runtime of their own. Neither knows what a
//! request means: each goes to `dispatch` with an id, and `reply(id, text)` answers it.
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Control,
    Metrics,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Control => "control",
            Kind::Metrics => "metrics",
        }
    }
}

pub type Dispatch = Arc<dyn Fn(u64, Kind, String) + Send + Sync>;

/// How long a request may take to arrive, and an answer (a rolling reload waits for every
/// worker in turn) to come.
const READ_LIMIT: Duration = Duration::from_secs(10);
const ANSWER_LIMIT: Duration = Duration::from_secs(600);
const MAX_REQUEST: u64 = 64 * 1024;

struct Shared {
    pending: Mutex<HashMap<u64, oneshot::Sender<String>>>,
    next_id: AtomicU64,
    dispatch: Dispatch,
}

pub struct Server {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    metrics: Option<SocketAddr>,
}

/// Binds a Unix socket at `path` (mode 0600). A socket file left by a process that is gone is
/// taken over; one that still answers is an app already running (AddrInUse).
pub fn bind_unix(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "already running"));
        }
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

impl Server {
    pub fn start(path: &Path, metrics: Option<SocketAddr>, dispatch: Dispatch) -> io::Result<Server> {
        let unix = bind_unix(path)?;
        unix.set_nonblocking(true)?;
        let tcp = match metrics {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr).inspect_err(|_| {
                    let _ = std::fs::remove_file(path);
                })?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let metrics = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let shared = Arc::new(Shared { pending: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1), dispatch });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("corral-control".into()).spawn(move || {
            runtime.block_on(async move {
                let unix = match tokio::net::UnixListener::from_std(unix) {
                    Ok(l) => l,
                    Err(_) => return,
                };
                tokio::spawn(serve_unix(unix, s.clone()));
                if let Some(tcp) = tcp.and_then(|l| tokio::net::TcpListener::from_std(l).ok()) {
                    tokio::spawn(serve_metrics(tcp, s.clone()));
                }
                let _ = stop_rx.await;
            });
            // Dropping the runtime here cancels every connection still being served.
        })?;
        Ok(Server { shared, stop: Some(stop_tx), thread: Some(thread), path: path.to_owned(), metrics })
    }

    /// The address the metrics endpoint listens on (its port when 0 was asked for).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// Answers request `id`; false when it is unknown (answered, or its client gave up).
    pub fn reply(&self, id: u64, text: String) -> bool {
        match self.shared.pending.lock().remove(&id) {
            Some(tx) => tx.send(text).is_ok(),
            None => false,
        }
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    /// Hands a request to JS and waits for its answer.
    async fn ask(&self, kind: Kind, text: String) -> Option<String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        (self.dispatch)(id, kind, text);
        let answer = tokio::time::timeout(ANSWER_LIMIT, rx).await.ok().and_then(Result::ok);
        self.pending.lock().remove(&id);
        answer
    }
}

async fn serve_unix(listener: tokio::net::UnixListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read.take(MAX_REQUEST));
            let got = tokio::time::timeout(READ_LIMIT, reader.read_line(&mut line)).await;
            if !matches!(got, Ok(Ok(n)) if n > 0) {
                return;
            }
            let answer = shared
                .ask(Kind::Control, line.trim_end().to_owned())
                .await
                .unwrap_or_else(|| r#"{"ok":false,"error":"the primary did not answer"}"#.to_owned());
            let _ = write.write_all(answer.as_bytes()).await;
            let _ = write.write_all(b"\n").await;
            let _ = write.shutdown().await;
        });
    }
}

/// The request line of an HTTP request head, if it is complete.
pub fn request_target(head: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(head).ok()?;
    if !text.contains("\r\n\r\n") && !text.contains("\n\n") {
        return None;
    }
    let mut parts = text.lines().next()?.split_whitespace();
    Some((parts.next()?, parts.next()?))
}

async fn serve_metrics(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            let target = loop {
                let n = match tokio::time::timeout(READ_LIMIT, stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => return,
                };
                head.extend_from_slice(&buf[..n]);
                if let Some((method, path)) = request_target(&head) {
                    break (method.to_owned(), path.to_owned());
                }
                if head.len() > 16 * 1024 {
                    return;
                }
            };
            let (status, body) = match (target.0.as_str(), target.1.split('?').next()) {
                ("GET", Some("/metrics")) => match shared.ask(Kind::Metrics, String::new()).await {
                    Some(text) => ("200 OK", text),
                    None => ("503 Service Unavailable", "the primary did not answer\n".to_owned()),
                },
                (_, Some("/metrics")) => ("405 Method Not Allowed", String::new()),
                _ => ("404 Not Found", "see /metrics\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read, Write};

    /// A test's own directory, removed when the test ends (pass or fail).
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_socket(name: &str) -> (TempDir, PathBuf) {
        let dir = std::env::temp_dir().join(format!("corral-control-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        (TempDir(dir), path)
    }

    /// A dispatcher that answers on another thread, as JS does.
    fn echo_server(path: &Path, metrics: bool) -> Arc<Mutex<Option<Server>>> {
        let cell: Arc<Mutex<Option<Server>>> = Arc::new(Mutex::new(None));
        let c = cell.clone();
        let dispatch: Dispatch = Arc::new(move |id, kind, text| {
            let c = c.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                let answer = format!("{}:{}", kind.as_str(), text);
                c.lock().as_ref().unwrap().reply(id, answer);
            });
        });
        let addr = metrics.then(|| "127.0.0.1:0".parse().unwrap());
        *cell.lock() = Some(Server::start(path, addr, dispatch).unwrap());
        cell
    }

    #[test]
    fn answers_a_line_and_serves_metrics() {
        let (_dir, path) = temp_socket("a.sock");
        let cell = echo_server(&path, true);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        s.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(&s).read_line(&mut line).unwrap();
        assert_eq!(line, "control:{\"cmd\":\"status\"}\n");

        let addr = cell.lock().as_ref().unwrap().metrics_addr().unwrap();
        let mut t = std::net::TcpStream::connect(addr).unwrap();
        t.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        t.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nmetrics:"), "{response}");

        let mut t = std::net::TcpStream::connect(addr).unwrap();
        t.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut response = String::new();
        t.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");

        cell.lock().take().unwrap().stop();
        assert!(!path.exists(), "the socket file goes with the server");
    }

    #[test]
    fn refuses_a_live_socket_and_takes_over_a_dead_one() {
        let (_dir, path) = temp_socket("b.sock");
        let cell = echo_server(&path, false);
        let again = Server::start(&path, None, Arc::new(|_, _, _| {}));
        assert_eq!(again.err().map(|e| e.kind()), Some(io::ErrorKind::AddrInUse));
        drop(cell.lock().take());
        // A socket file whose process is gone: bound, never served.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let taken = Server::start(&path, None, Arc::new(|_, _, _| {})).unwrap();
        taken.stop();
    }

    #[test]
    fn request_targets() {
        assert_eq!(request_target(b"GET /metrics HTTP/1.1\r\n\r\n"), Some(("GET", "/metrics")));
        assert_eq!(request_target(b"GET /metrics HTTP/1.1\r\n"), None);
    }
}
