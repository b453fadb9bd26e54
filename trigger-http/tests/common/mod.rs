//! A minimal HTTP/1.1 client over `TcpStream` (one request per connection), and a way to run
//! the trigger on a free port.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openprofiling_core::{Trigger, TriggerEvents};
use openprofiling_trigger_http::HttpTrigger;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Long enough for a loaded 2-core machine; a hang fails the test instead of blocking it.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A response: status, headers (names lower-cased), body parsed as JSON.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one request and reads the whole response (`Connection: close`).
pub async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    tokio::time::timeout(PATIENCE, send(address, method, path, headers, body))
        .await
        .expect("the server answers in time")
}

async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("connect to the trigger");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"))
    {
        body = dechunk(&body);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|error| {
            panic!(
                "the body is JSON ({error}): {:?}",
                String::from_utf8_lossy(&body)
            )
        })
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&body[..line_end])
                .expect("ASCII")
                .trim(),
            16,
        )
        .expect("a hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `POST path` with a body.
pub async fn post(address: SocketAddr, path: &str, body: &str) -> Response {
    request(address, "POST", path, &[], body.as_bytes()).await
}

/// A trigger running in a task, with its shutdown token.
pub struct Running {
    pub trigger: Arc<HttpTrigger>,
    pub address: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<openprofiling_core::Result<()>>,
}

/// Runs `trigger` with `events` and waits until it listens.
pub async fn run(trigger: HttpTrigger, events: TriggerEvents) -> Running {
    let trigger = Arc::new(trigger);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let trigger = trigger.clone();
        let shutdown = shutdown.clone();
        async move { trigger.run(events, shutdown).await }
    });
    let address = tokio::time::timeout(PATIENCE, trigger.local_addr())
        .await
        .expect("the trigger listens in time")
        .expect("the trigger listens");
    Running {
        trigger,
        address,
        shutdown,
        task,
    }
}
