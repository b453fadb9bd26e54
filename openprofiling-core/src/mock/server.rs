//! The listening socket: plain HTTP `GET`s for target discovery, as Node's inspector answers
//! them, and WebSocket upgrades to a target's id.

use std::sync::Arc;
use std::time::Duration;

use memchr::memmem;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::connection;
use super::state::Shared;

/// The longest request head read; longer ones get `431`.
const MAX_HEAD: usize = 16 * 1024;

/// Frames and messages up to 256 MiB, so that a client's large messages are not refused.
const MAX_MESSAGE: usize = 256 << 20;

/// A large write buffer, so that streaming frames makes few, large socket writes.
const WRITE_BUFFER: usize = 1 << 20;

/// The WebSocket configuration of accepted connections.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .write_buffer_size(WRITE_BUFFER)
}

/// Accepts connections until the task is aborted; dropping the set of connection tasks
/// then aborts them too.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(handle(tcp, Arc::clone(&shared)));
                }
                Err(error) => {
                    // Out of file descriptors, most likely; do not spin.
                    tracing::debug!(%error, "Mock inspector cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The path without its query string.
    path: &'a str,
    /// `Upgrade: websocket` was asked for.
    upgrade: bool,
    key: Option<&'a str>,
}

/// Parses a request head (everything before `\r\n\r\n`); `None` if it is not HTTP.
fn parse_head(head: &str) -> Option<Request<'_>> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?;
    let target = request_line.next()?;
    if !request_line.next()?.starts_with("HTTP/") {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    let mut request = Request {
        method,
        path,
        upgrade: false,
        key: None,
    };
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("upgrade") {
            request.upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            request.key = Some(value);
        }
    }
    Some(request)
}

/// Why no request head was read.
#[derive(Debug)]
enum HeadError {
    /// The client went away, or failed, before finishing it.
    Gone,
    /// It is longer than [`MAX_HEAD`].
    TooLarge,
}

/// Reads the request head; returns it and any bytes read after it.
async fn read_head(tcp: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut searched: usize = 0;
    loop {
        if buffer.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let mut chunk = [0u8; 4096];
        let read = tcp.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
        if read == 0 {
            return Err(HeadError::Gone);
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = memmem::find(&buffer[searched.saturating_sub(3)..], b"\r\n\r\n") {
            let end = searched.saturating_sub(3) + at + 4;
            let rest = buffer.split_off(end);
            buffer.truncate(end - 4);
            return Ok((buffer, rest));
        }
        searched = buffer.len();
    }
}

/// Serves one TCP connection: an HTTP request, or a WebSocket for its whole life.
async fn handle(mut tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    // No timeout on the head: a test may pause the tokio clock, and an idle client only
    // costs a task, which goes when the mock is dropped.
    let (head, rest) = match read_head(&mut tcp).await {
        Ok(read) => read,
        Err(HeadError::Gone) => return,
        Err(HeadError::TooLarge) => return respond(&mut tcp, 431, "").await,
    };
    let Some(request) = std::str::from_utf8(&head).ok().and_then(parse_head) else {
        return respond(&mut tcp, 400, "").await;
    };
    if request.method != "GET" {
        return respond(&mut tcp, 405, "").await;
    }
    if request.upgrade {
        let id = request.path.trim_start_matches('/');
        let Some(target) = shared.targets.iter().position(|entry| entry.id == id) else {
            return respond(&mut tcp, 404, "").await;
        };
        let Some(key) = request.key else {
            return respond(&mut tcp, 400, "").await;
        };
        let accept = derive_accept_key(key.as_bytes());
        return upgrade(tcp, shared, target, &accept, rest).await;
    }
    let path = request.path.trim_end_matches('/');
    let body = match path {
        "/json" | "/json/list" => list(&shared),
        "/json/version" => json!({ "Browser": "node.js/v20.0.0-mock", "Protocol-Version": "1.1" }),
        _ => return respond(&mut tcp, 404, "").await,
    };
    let body = serde_json::to_string_pretty(&body).expect("a JSON value always serialises");
    respond(&mut tcp, 200, &body).await;
}

/// The `/json/list` body, as Node's inspector writes it.
fn list(shared: &Shared) -> Value {
    let host = shared.address;
    let targets = shared.targets.iter().map(|entry| {
        json!({
            "description": "node.js instance",
            "devtoolsFrontendUrl": format!(
                "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws={host}/{}",
                entry.id
            ),
            "devtoolsFrontendUrlCompat": format!(
                "devtools://devtools/bundled/inspector.html?experiments=true&v8only=true&ws={host}/{}",
                entry.id
            ),
            "faviconUrl": "https://nodejs.org/static/images/favicons/favicon.ico",
            "id": entry.id,
            "title": entry.target.title,
            "type": entry.target.kind,
            "url": entry.target.url,
            "webSocketDebuggerUrl": format!("ws://{host}/{}", entry.id),
        })
    });
    Value::Array(targets.collect())
}

/// Writes a response and closes the connection.
async fn respond(tcp: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let content_type = if status == 200 {
        "application/json; charset=UTF-8"
    } else {
        "text/plain"
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// Completes the WebSocket handshake and serves the connection.
///
/// The connection is registered before the `101` goes out, so that a test that calls
/// `send_event` as soon as its client has connected reaches this connection.
async fn upgrade(
    mut tcp: TcpStream,
    shared: Arc<Shared>,
    target: usize,
    accept: &str,
    rest: Vec<u8>,
) {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let connection = shared.open_connection(control_tx);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if tcp.write_all(response.as_bytes()).await.is_err() {
        shared.close_connection(connection);
        return;
    }
    tracing::debug!(connection, target, "Mock inspector accepted a WebSocket.");
    let ws =
        WebSocketStream::from_partially_read(tcp, rest, Role::Server, Some(websocket_config()))
            .await;
    connection::serve(ws, shared, connection, target, control_rx).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_upgrade_request() {
        let head = "GET /abc?x=1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUpgrade: WebSocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
        let request = parse_head(head).expect("valid head");
        assert_eq!(
            request,
            Request {
                method: "GET",
                path: "/abc",
                upgrade: true,
                key: Some("dGhlIHNhbXBsZSBub25jZQ==")
            }
        );
    }

    #[test]
    fn rejects_what_is_not_http() {
        assert_eq!(parse_head("hello"), None);
        assert_eq!(parse_head("GET / FTP/1.0"), None);
        assert_eq!(parse_head("GET / HTTP/1.1\r\nno colon here"), None);
    }
}
