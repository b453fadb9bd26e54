//! A minimal HTTP/1.1 `GET` client, enough for the inspector's `/json/list` and `/json/version`.
//!
//! The inspector's HTTP side is tiny and local, so a full client (hyper, reqwest) is not worth its
//! weight. What it must cope with, seen in practice: Node answers `HTTP/1.0` with a `Content-Length`
//! and then keeps the connection open despite `Connection: close`, so the body ends at its length,
//! never at the close; Chrome answers `HTTP/1.1`; other servers may use chunked encoding or close
//! the connection to end the body. Bodies are capped, and the whole exchange runs under one timeout.

use std::net::IpAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// The largest body accepted. A `/json/list` of a browser with many tabs is tens of KiB.
const MAX_BODY: usize = 8 << 20;
/// The largest status line or header line accepted.
const MAX_LINE: usize = 16 << 10;
/// The most header lines accepted.
const MAX_HEADERS: usize = 100;

/// The reason given when nothing listens at the address.
const REFUSED: &str = "connection refused (nothing listens there)";

/// True when `error` says nothing listens at the address (yet): a reason to try again later,
/// where any other failure means something else listens there.
pub(super) fn is_connection_refused(error: &Error) -> bool {
    matches!(error, Error::Http { reason, .. } if reason == REFUSED)
}

/// An answer: its status and its whole body.
#[derive(Debug)]
pub(super) struct Response {
    /// The status code, e.g. 200.
    pub(super) status: u16,
    /// The reason phrase, e.g. `OK`.
    pub(super) reason: String,
    /// The body, decoded from chunked encoding if it was.
    pub(super) body: Vec<u8>,
}

/// `GET http://{address}{path}` and decodes the JSON body. Any failure, including a status other
/// than 2xx or a body that is not the JSON expected, is an [`Error::Http`].
pub(super) async fn get_json<T: DeserializeOwned>(
    address: &str,
    path: &str,
    timeout: Duration,
) -> Result<T> {
    let response = get(address, path, timeout).await?;
    if !(200..300).contains(&response.status) {
        let mut reason = format!(
            "it answered HTTP {} {}",
            response.status,
            response.reason.trim()
        );
        let body = String::from_utf8_lossy(&response.body);
        let body = body.trim();
        if !body.is_empty() {
            reason.push_str(": ");
            reason.extend(body.chars().take(200));
        }
        if response.status == 400 && !host_is_ip_or_localhost(address) {
            reason.push_str(
                " (Node.js answers only requests whose Host is an IP address or localhost; \
                 give the inspector by IP address)",
            );
        }
        return Err(http_error(address, path, reason));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        http_error(
            address,
            path,
            format!("the answer is not the JSON an inspector gives: {e}"),
        )
    })
}

/// `GET http://{address}{path}`, the whole exchange (connect, request, answer) within `timeout`.
/// `address` is `host:port`, with an IPv6 host in brackets.
pub(super) async fn get(address: &str, path: &str, timeout: Duration) -> Result<Response> {
    match tokio::time::timeout(timeout, exchange(address, path)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(reason)) => Err(http_error(address, path, reason)),
        Err(_) => Err(http_error(
            address,
            path,
            format!("no complete answer within {timeout:?}"),
        )),
    }
}

fn http_error(address: &str, path: &str, reason: String) -> Error {
    Error::Http {
        address: address.to_owned(),
        path: path.to_owned(),
        reason,
    }
}

/// Connects, sends the request and reads the answer. Errors are the reason, for [`Error::Http`].
async fn exchange(address: &str, path: &str) -> Result<Response, String> {
    let mut stream = TcpStream::connect(address).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            REFUSED.to_owned()
        } else {
            format!("cannot connect: {e}")
        }
    })?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n\
         User-Agent: openprofiling/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    read_response(&mut BufReader::new(stream)).await
}

/// Reads a status line, headers and a body from `reader`.
async fn read_response<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Response, String> {
    let Head {
        status,
        reason,
        headers,
    } = read_head(reader).await?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length") {
            let length: usize = value
                .parse()
                .map_err(|_| format!("malformed Content-Length {:?}", truncate(value)))?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err("conflicting Content-Length headers".to_owned());
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding applied is the one that frames the body.
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        }
    }

    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if chunked {
        read_chunked(reader).await?
    } else if let Some(length) = content_length {
        if length > MAX_BODY {
            return Err(too_large());
        }
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .await
            .map_err(|e| format!("the body ended early ({length} bytes announced): {e}"))?;
        body
    } else {
        // No length given: the body runs to the close of the connection.
        let mut body = Vec::new();
        (&mut *reader)
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| format!("cannot read the body: {e}"))?;
        if body.len() > MAX_BODY {
            return Err(too_large());
        }
        body
    };
    Ok(Response {
        status,
        reason,
        body,
    })
}

/// Decodes a chunked body, up to [`MAX_BODY`], and skips the trailers.
async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, "chunk size")
            .await?
            .ok_or_else(|| "the connection closed in the middle of a chunked body".to_owned())?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("malformed chunk size {:?}", truncate(&line)))?;
        if size == 0 {
            break;
        }
        if size > MAX_BODY - body.len() {
            return Err(too_large());
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .await
            .map_err(|e| format!("a chunk ended early: {e}"))?;
        match read_line(reader, "chunk end").await? {
            Some(end) if end.is_empty() => {}
            _ => return Err("a chunk is not followed by CRLF".to_owned()),
        }
    }
    // Trailers, up to the empty line; a close instead of the empty line is tolerated.
    for _ in 0..=MAX_HEADERS {
        match read_line(reader, "trailer").await? {
            Some(line) if !line.is_empty() => {}
            _ => return Ok(body),
        }
    }
    Err(format!("more than {MAX_HEADERS} trailer lines"))
}

/// The status line and headers of an answer.
pub(super) struct Head {
    /// The status code.
    pub(super) status: u16,
    /// The reason phrase.
    pub(super) reason: String,
    /// The headers as sent, names and trimmed values.
    pub(super) headers: Vec<(String, String)>,
}

/// Reads an answer's status line and headers (up to the blank line), and no more.
pub(super) async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Head, String> {
    let status_line = read_line(reader, "status line")
        .await?
        .ok_or_else(|| "the connection closed before any answer".to_owned())?;
    let (status, reason) = parse_status_line(&status_line)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, "header")
            .await?
            .ok_or_else(|| "the connection closed in the middle of the headers".to_owned())?;
        if line.is_empty() {
            return Ok(Head {
                status,
                reason,
                headers,
            });
        }
        if headers.len() == MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} header lines"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed header line {:?}", truncate(&line)));
        };
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}

/// Reads one line, without its CRLF (or bare LF). `None` when the connection closed before it.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    what: &str,
) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("cannot read the {what}: {e}"))?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return if line.len() > MAX_LINE {
            Err(format!("{what} longer than {MAX_LINE} bytes"))
        } else {
            Err(format!("the connection closed in the middle of the {what}"))
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| format!("the {what} is not UTF-8"))
        .map(Some)
}

/// Parses `HTTP/1.1 200 OK` into the code and the reason phrase.
fn parse_status_line(line: &str) -> Result<(u16, String), String> {
    let malformed = || {
        format!(
            "it does not answer HTTP (status line {:?}); is this the inspector's port?",
            truncate(line)
        )
    };
    let (version, rest) = line.split_once(' ').ok_or_else(malformed)?;
    if !version.starts_with("HTTP/") {
        return Err(malformed());
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return Err(malformed());
    }
    let code = code.parse().map_err(|_| malformed())?;
    Ok((code, reason.to_owned()))
}

fn too_large() -> String {
    format!("the answer is larger than {} MiB", MAX_BODY >> 20)
}

/// At most 100 characters of `text`, for error messages.
fn truncate(text: &str) -> String {
    text.chars().take(100).collect()
}

/// True when the host part of `host:port` is an IP address or `localhost`.
fn host_is_ip_or_localhost(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Serves one connection: reads the request head, checks it, writes `answer`, then keeps the
    /// connection open (as Node does) unless `close`.
    async fn serve_once(answer: Vec<u8>, close: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let expected_host = format!("Host: {address}\r\n");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut stream = BufReader::new(stream);
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                if stream.read_line(&mut head).await.expect("read request") == 0 {
                    return;
                }
            }
            assert!(head.starts_with("GET /json/list HTTP/1.1\r\n"), "{head}");
            assert!(head.contains(&expected_host), "{head}");
            assert!(head.contains("Connection: close\r\n"), "{head}");
            stream.get_mut().write_all(&answer).await.expect("write");
            if !close {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        });
        address
    }

    async fn fetch(answer: &[u8], close: bool) -> Result<Response> {
        let address = serve_once(answer.to_vec(), close).await;
        get(&address, "/json/list", Duration::from_secs(5)).await
    }

    fn reason(error: Error) -> String {
        match error {
            Error::Http { reason, .. } => reason,
            other => panic!("expected Error::Http, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn body_ends_at_content_length_even_if_the_connection_stays_open() {
        let answer =
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        let response = fetch(answer, false).await.expect("get");
        assert_eq!(response.status, 200);
        assert_eq!(response.reason, "OK");
        assert_eq!(response.body, b"[]");
    }

    #[tokio::test]
    async fn chunked_body_is_decoded_and_trailers_skipped() {
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;ext=1\r\n[{\"i\r\n6\r\nd\":1}]\r\n0\r\nX-Trailer: y\r\n\r\n";
        let response = fetch(answer, false).await.expect("get");
        assert_eq!(response.body, br#"[{"id":1}]"#);
    }

    #[tokio::test]
    async fn body_without_length_runs_to_the_close() {
        let answer = b"HTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"a\":1}";
        let response = fetch(answer, true).await.expect("get");
        assert_eq!(response.body, br#"{"a":1}"#);
    }

    #[tokio::test]
    async fn too_large_bodies_are_refused() {
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let error = fetch(answer.as_bytes(), false)
            .await
            .expect_err("too large");
        assert!(reason(error).contains("larger than 8 MiB"));

        let answer = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY + 1
        );
        let error = fetch(answer.as_bytes(), false)
            .await
            .expect_err("too large");
        assert!(reason(error).contains("larger than 8 MiB"));
    }

    #[tokio::test]
    async fn an_error_status_is_reported_with_the_body() {
        let address = serve_once(
            b"HTTP/1.0 400 Bad Request\r\nContent-Length: 31\r\n\r\nWebSockets request was expected"
                .to_vec(),
            false,
        )
        .await;
        let error =
            get_json::<Vec<serde_json::Value>>(&address, "/json/list", Duration::from_secs(5))
                .await
                .expect_err("400");
        let text = error.to_string();
        assert!(
            text.contains("HTTP 400 Bad Request: WebSockets request was expected"),
            "{text}"
        );
        assert!(text.contains(&format!("{address}/json/list")), "{text}");
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_json_expected_is_an_error() {
        let address = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<html/>\r\n".to_vec(),
            false,
        )
        .await;
        let error =
            get_json::<Vec<serde_json::Value>>(&address, "/json/list", Duration::from_secs(5))
                .await
                .expect_err("not JSON");
        assert!(reason(error).contains("not the JSON"));
    }

    #[tokio::test]
    async fn a_peer_that_does_not_speak_http_is_an_error() {
        let error = fetch(b"SSH-2.0-OpenSSH_9.6\r\n", false)
            .await
            .expect_err("not HTTP");
        assert!(reason(error).contains("does not answer HTTP"));
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let error = get(&address, "/json/list", Duration::from_millis(200))
            .await
            .expect_err("timeout");
        assert!(reason(error).contains("no complete answer within 200ms"));
        drop(listener);
    }

    #[tokio::test]
    async fn connection_refused_says_so() {
        // A UDP port's number: a TCP listener bound and dropped here could live on in a child
        // another test forks meanwhile, and reset the connection instead of refusing it.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = udp.local_addr().expect("address").to_string();
        let error = get(&address, "/json/list", Duration::from_secs(5))
            .await
            .expect_err("refused");
        assert!(is_connection_refused(&error));
        assert!(reason(error).contains("connection refused"));
    }

    #[test]
    fn host_check_for_the_rebinding_hint() {
        assert!(host_is_ip_or_localhost("127.0.0.1:9229"));
        assert!(host_is_ip_or_localhost("[::1]:9229"));
        assert!(host_is_ip_or_localhost("LOCALHOST:9229"));
        assert!(!host_is_ip_or_localhost("example.com:9229"));
    }
}
