//! Memory under a hostile inspector, measured: the peak resident size of this process (VmHWM,
//! reset through /proc/self/clear_refs before each scenario) while a session takes floods of
//! chunks, floods of events nobody subscribed to, and single 64 MB frames below and above its
//! size limit. One test in a binary of its own, scenarios one after the other, so that nothing
//! else allocates meanwhile. The large frames come from a small WebSocket server in a Python
//! child process, so that only the client's memory is counted.
#![cfg(feature = "test-util")]
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openprofiling_core::InspectorSession;
use openprofiling_core::mock::{
    MockInspector, Reply, heap_snapshot_chunk_frames, heap_snapshot_text,
};
use serde_json::{Value, json};

const MB: u64 = 1 << 20;
const CHUNK: &str = "HeapProfiler.addHeapSnapshotChunk";

/// A field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse().ok())
        .unwrap();
    kb * 1024
}

/// Resets the peak resident size to the current one; returns the current one.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5")
        .expect("reset VmHWM through /proc/self/clear_refs");
    status_bytes("VmRSS:")
}

/// How far the peak rose above `base` since [`reset_peak`].
fn peak_growth(base: u64) -> u64 {
    status_bytes("VmHWM:").saturating_sub(base)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

/// Streams `bytes` of chunk events, then closes; the subscriber reads and drops every chunk.
async fn chunk_flood_then_close(bytes: u64) -> (u64, Duration) {
    let mock = MockInspector::start().await;
    let text: Arc<str> = heap_snapshot_text(2 << 20).into();
    let frames = Arc::new(heap_snapshot_chunk_frames(&text, 100_000));
    mock.expect(
        "HeapProfiler.takeHeapSnapshot",
        Reply::steps().frames(frames, bytes).close(),
    );
    let session = InspectorSession::builder(mock.ws_url())
        .connect()
        .await
        .unwrap();
    let mut chunks = session.subscribe(CHUNK).unwrap();
    let started = Instant::now();
    let call = tokio::spawn({
        let session = session.clone();
        async move {
            session
                .call::<Value>("HeapProfiler.takeHeapSnapshot", json!({}))
                .await
        }
    });
    let mut received = 0_u64;
    let error = loop {
        match chunks.next().await {
            Ok(event) => received += event.string_param("chunk").unwrap().len() as u64,
            Err(error) => break error,
        }
    };
    assert!(error.is_connection_closed(), "{error:?}");
    let reply = call.await.unwrap();
    assert!(reply.unwrap_err().is_connection_closed());
    (received, started.elapsed())
}

/// Streams `bytes` of events of a method nobody subscribed to, then answers a call.
async fn unsubscribed_flood(bytes: u64) -> Duration {
    let mock = MockInspector::start().await;
    let text: Arc<str> = heap_snapshot_text(2 << 20).into();
    let frames: Vec<_> = heap_snapshot_chunk_frames(&text, 100_000)
        .iter()
        .map(|frame| frame.replace(CHUNK, "Debugger.scriptParsed").into())
        .collect();
    mock.expect(
        "Runtime.evaluate",
        Reply::steps()
            .frames(Arc::new(frames), bytes)
            .ok(json!({"after": "flood"})),
    );
    let session = InspectorSession::builder(mock.ws_url())
        .connect()
        .await
        .unwrap();
    // A subscription to something else, to make sure routing looks the events up.
    let _other = session.subscribe(CHUNK).unwrap();
    let started = Instant::now();
    let reply: Value = session.call("Runtime.evaluate", json!({})).await.unwrap();
    assert_eq!(reply["after"], "flood");
    started.elapsed()
}

/// A minimal WebSocket server: answers one handshake, waits for the client's first frame,
/// sends one text frame of about `size` bytes (a chunk event of `0123456789,\n` repeated), then reads until the client leaves.
const BIG_FRAME_SERVER: &str = r#"
import base64, hashlib, socket, struct, sys
units = int(sys.argv[1]) // 13
head = b'{"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"'
tail = b'"}}'
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
print(server.getsockname()[1], flush=True)
client, _ = server.accept()
request = b""
while b"\r\n\r\n" not in request:
    data = client.recv(4096)
    if not data:
        sys.exit(0)
    request += data
key = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
       if line.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
client.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
try:
    client.recv(4096)  # the client's first call: it has subscribed
    client.sendall(b"\x81\x7f" + struct.pack(">Q", len(head) + 13 * units + len(tail)) + head)
    block = b"0123456789,\\n" * 8192
    left = units
    while left > 0:
        n = min(left, 8192)
        client.sendall(block[: 13 * n])
        left -= n
    client.sendall(tail)
    while client.recv(65536):
        pass
except OSError:
    pass
"#;

struct BigFrameServer {
    child: Child,
    port: u16,
}

impl BigFrameServer {
    fn start(size: u64) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", BIG_FRAME_SERVER, &size.to_string()])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 must be on the PATH");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Self { child, port }
    }
}

impl Drop for BigFrameServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receives one frame of `size` bytes with the session's limit at `limit`; returns the chunk
/// length, or the error that closed the session.
async fn big_frame(size: u64, limit: usize) -> Result<usize, openprofiling_core::Error> {
    let server = BigFrameServer::start(size);
    let session = InspectorSession::builder(format!("ws://127.0.0.1:{}/big", server.port))
        .max_message_size(limit)
        .connect()
        .await
        .unwrap();
    let mut chunks = session.subscribe(CHUNK).unwrap();
    // Any call tells the server to send (it never answers; the call times out unseen).
    let go = session.clone();
    let go = tokio::spawn(async move {
        let _ = go
            .call_with_timeout::<Value>("Go.ahead", json!({}), Duration::from_secs(60))
            .await;
    });
    let event = tokio::time::timeout(Duration::from_secs(60), chunks.next())
        .await
        .expect("the frame, or the end of the session, within a minute");
    go.abort();
    let chunk = event?.string_param("chunk").unwrap();
    assert!(chunk.chunks(12).all(|piece| piece == b"0123456789,\n"));
    Ok(chunk.len())
}

#[test]
fn a_hostile_inspector_cannot_make_the_session_hold_more_than_bounded_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm up: the runtime, the mock, the allocator's arenas.
        chunk_flood_then_close(8 * MB).await;

        let flood = 256 * MB;
        let base = reset_peak();
        let (received, took) = chunk_flood_then_close(flood).await;
        let growth = peak_growth(base);
        eprintln!(
            "chunk flood: {} of chunks in {took:?}, peak RSS +{}",
            mb(received),
            mb(growth)
        );
        assert!(received >= flood * 9 / 10, "{received}");
        // A few 100 KB frames in flight per side, and the 2 MB snapshot text: far below 64 MB.
        assert!(
            growth < 64 * MB,
            "peak RSS grew {} over a {} flood",
            mb(growth),
            mb(flood)
        );

        let base = reset_peak();
        let took = unsubscribed_flood(flood).await;
        let growth = peak_growth(base);
        eprintln!(
            "unsubscribed events: {} in {took:?}, peak RSS +{}",
            mb(flood),
            mb(growth)
        );
        assert!(
            growth < 64 * MB,
            "peak RSS grew {} over a {} flood",
            mb(growth),
            mb(flood)
        );

        let size = 64 * MB;
        let base = reset_peak();
        let error = big_frame(size, 16 << 20).await.unwrap_err();
        let growth = peak_growth(base);
        eprintln!(
            "{} frame above a 16 MB limit: {error}; peak RSS +{}",
            mb(size),
            mb(growth)
        );
        assert!(error.is_connection_closed(), "{error:?}");
        // Refused on its header: the payload is never buffered.
        assert!(
            growth < 32 * MB,
            "peak RSS grew {} for a refused frame",
            mb(growth)
        );

        let base = reset_peak();
        let chunk = big_frame(size, 256 << 20).await.unwrap();
        let growth = peak_growth(base);
        eprintln!(
            "{} frame below the limit: chunk of {}, peak RSS +{}",
            mb(size),
            mb(chunk as u64),
            mb(growth)
        );
        assert!(chunk as u64 > size * 9 / 10);
        // The frame, and the chunk unescaped out of it: about twice the frame, at most four.
        assert!(
            growth < 4 * size,
            "peak RSS grew {} for one {} frame",
            mb(growth),
            mb(size)
        );
    });
}
