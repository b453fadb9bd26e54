//! [`CountingProxy`]: counts the WebSocket connections a client opens to an inspector.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A TCP proxy in front of a real inspector that relays every connection and counts those
/// upgraded to a WebSocket (the HTTP requests of target discovery are relayed, not counted).
/// The count covers the proxy's whole life, so a second connection opened and closed in
/// between is seen too: the proof that profilers share one session.
///
/// Node builds the URLs of `/json/list` from the request's `Host`, so discovery through the
/// proxy's address yields WebSocket URLs through the proxy as well. It runs on plain threads,
/// for tests that drive processes synchronously; its threads end with their connections.
#[derive(Debug, Clone)]
pub struct CountingProxy {
    address: SocketAddr,
    websockets: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Listens on `127.0.0.1:0` and relays to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let websockets = Arc::new(AtomicUsize::new(0));
        let counter = websockets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || relay(client, upstream, &counter));
            }
        });
        Ok(Self {
            address,
            websockets,
        })
    }

    /// The address to give the client instead of the inspector's.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// WebSocket connections opened through the proxy so far.
    pub fn websocket_count(&self) -> usize {
        self.websockets.load(Ordering::SeqCst)
    }
}

fn relay(mut client: TcpStream, upstream: SocketAddr, websockets: &AtomicUsize) {
    // The request head, up to its blank line: a WebSocket client sends nothing more before
    // the server's answer.
    let mut head = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    if String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .contains("upgrade: websocket")
    {
        websockets.fetch_add(1, Ordering::SeqCst);
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(&head).is_err() {
        return;
    }
    let (Ok(mut server_reader), Ok(mut client_writer)) = (server.try_clone(), client.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_reader, &mut client_writer);
        let _ = client_writer.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Write);
}
