//! An upstream the test controls: a plain HTTP/1.1 server on a raw TCP listener that records
//! every request it reads and answers as told, hangs, or drops the connection unanswered.
//! It also counts the requests it began to read, so a test can tell a request that never
//! arrived from one whose body was cut short.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the upstream treats the requests it reads.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Answers with this status and, as JSON, what it saw of the request.
    Echo(u16),
    /// Answers with this status and body.
    Json(u16, Value),
    /// Answers nothing until the mode changes, then answers as the new mode says.
    Hang,
    /// Closes the connection without an answer.
    Drop,
}

/// One request as the upstream read it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: BTreeMap<String, String>,
}

impl Seen {
    fn to_json(&self) -> Value {
        json!({ "method": self.method, "path": self.path, "headers": self.headers })
    }
}

struct Shared {
    mode: watch::Sender<Mode>,
    seen: Mutex<Vec<Seen>>,
    started: AtomicUsize,
}

/// A running controlled upstream; stops when dropped.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub(crate) async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            mode: watch::Sender::new(mode),
            seen: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, accepting.clone()));
            }
        });
        Self { addr, shared, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// Every request read so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests were read whole, head and body.
    pub(crate) fn requests(&self) -> usize {
        self.seen().len()
    }

    /// How many requests were begun: their request line arrived, whether or not the rest did.
    pub(crate) fn started(&self) -> usize {
        self.shared.started.load(Ordering::SeqCst)
    }

    /// The last request read.
    pub(crate) fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream saw a request")
    }

    /// Waits until `n` requests have arrived (panics after 10 s).
    pub(crate) async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.requests() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the upstream saw {} requests, expected {n}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(seen) = read_request(&mut reader, &shared.started).await {
        shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen.clone());
        let mut modes = shared.mode.subscribe();
        let mode = loop {
            let mode = modes.borrow_and_update().clone();
            if !matches!(mode, Mode::Hang) {
                break mode;
            }
            if modes.changed().await.is_err() {
                return;
            }
        };
        let (status, body) = match mode {
            Mode::Echo(status) => (status, seen.to_json()),
            Mode::Json(status, body) => (status, body),
            Mode::Drop | Mode::Hang => return,
        };
        let body = body.to_string();
        let head = format!(
            "HTTP/1.1 {status} Controlled\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// Reads one request (head and body), counting it in `started` once its first line is in;
/// `None` at the end of the connection, or when it ends mid-request.
async fn read_request<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    started: &AtomicUsize,
) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    started.fetch_add(1, Ordering::SeqCst);
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = headers.get("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
    }
    Some(Seen {
        method,
        path,
        headers,
    })
}
