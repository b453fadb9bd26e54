//! The client's opening handshake (RFC 6455, section 4.1) over a TCP stream, with
//! tungstenite's key helpers.

use std::io;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use url::{Position, Url};

use super::super::http::{Head, read_head};

/// Asks the server at the other end of `stream` to switch to WebSocket for `url`. Returns the
/// stream and the bytes that arrived after the server's answer (the start of its frames).
pub(super) async fn handshake(
    mut stream: TcpStream,
    url: &Url,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: openprofiling/{version}\r\n\r\n",
        path = &url[Position::BeforePath..Position::AfterQuery],
        host = &url[Position::BeforeHost..Position::AfterPort],
        version = env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(request.as_bytes()).await?;

    let mut reader = BufReader::new(stream);
    let Head {
        status,
        reason,
        headers,
    } = read_head(&mut reader).await.map_err(refused)?;
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    };
    let (upgrade, accept) = (header("upgrade"), header("sec-websocket-accept"));
    if status != 101 {
        return Err(refused(format!(
            "the server answered HTTP {status} {reason} instead of switching to WebSocket \
             (is the URL one that `/json/list` on the inspector's port gives?)"
        )));
    }
    if !upgrade.is_some_and(|upgrade| upgrade.eq_ignore_ascii_case("websocket"))
        || accept != Some(derive_accept_key(key.as_bytes()).as_str())
    {
        return Err(refused(
            "the server switched protocols without a valid WebSocket answer".to_owned(),
        ));
    }
    let received = reader.buffer().to_vec();
    Ok((reader.into_inner(), received))
}

/// A handshake refused or garbled, as an I/O error saying what happened.
fn refused(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Runs the handshake against a server that reads the request and answers with
    /// `answer(key)`.
    async fn handshake_with(answer: fn(&str) -> Vec<u8>) -> io::Result<(TcpStream, Vec<u8>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (server, _) = listener.accept().await.expect("accept");
            let mut server = BufReader::new(server);
            let mut key = String::new();
            loop {
                let mut line = String::new();
                server.read_line(&mut line).await.expect("request");
                if let Some(value) = line.strip_prefix("Sec-WebSocket-Key:") {
                    key = value.trim().to_owned();
                }
                if line == "\r\n" {
                    break;
                }
            }
            server.write_all(&answer(&key)).await.expect("answer");
            // Hold the connection until the client is done.
            let _ = server.read_line(&mut String::new()).await;
        });
        let url = Url::parse(&format!("ws://{address}/some/target?x=1")).expect("url");
        handshake(TcpStream::connect(address).await.expect("connect"), &url).await
    }

    #[tokio::test]
    async fn bytes_sent_right_after_the_answer_are_kept_for_the_reader() {
        let (_, received) = handshake_with(|key| {
            let mut answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            answer.extend_from_slice(b"\x81\x02hi");
            answer
        })
        .await
        .expect("handshake");
        assert_eq!(received, b"\x81\x02hi");
    }

    #[tokio::test]
    async fn refusals_and_wrong_answers_are_errors_saying_why() {
        let error =
            handshake_with(|_| b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec())
                .await
                .expect_err("refused");
        assert!(error.to_string().contains("HTTP 404 Not Found"), "{error}");
        assert!(error.to_string().contains("/json/list"), "{error}");

        let error = handshake_with(|_| {
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Accept: not-the-key\r\n\r\n"
                .to_vec()
        })
        .await
        .expect_err("wrong key");
        assert!(
            error.to_string().contains("valid WebSocket answer"),
            "{error}"
        );

        let error = handshake_with(|_| b"SSH-2.0-OpenSSH\r\n".to_vec())
            .await
            .expect_err("not HTTP");
        assert!(
            error.to_string().contains("does not answer HTTP"),
            "{error}"
        );
    }
}
