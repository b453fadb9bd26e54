//! The connection's socket, read and written so that a stream of large frames costs few
//! wake-ups.
//!
//! V8 sends a heap snapshot as 100 KB frames at 20-30 MB/s. A socket registered with the
//! runtime's poller wakes the agent for each one: sleeping and waking were a sixth of the
//! agent's CPU for a snapshot on a VM. While frames stream in, the reader therefore takes the
//! socket off the poller when it is drained and looks again a pause later (up to
//! [`COALESCE`]), reading everything that arrived meanwhile: the socket's buffer holds it.
//! The pause shrinks when a look finds that buffer nearly full, so a fast sender is not held
//! back. The writer writes without the poller (requests are small; a full send buffer is
//! retried). When the stream pauses, a look waits on the poller as usual, so an idle session
//! costs nothing.
//!
//! Measured with `openprofiling snapshot` on a 243 MB snapshot of `benches/heapsnapshot`'s
//! target, 5 alternated runs each: about 4,000 context switches and 231 ms of agent CPU on
//! average with the poller alone, about 1,250 and 212 ms with looks.

use std::io::{self, Write};
use std::net::Shutdown;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a streaming reader waits at most before it looks at a drained socket again.
const COALESCE: Duration = Duration::from_millis(20);

/// The shortest wait: a sender fast enough to fill the socket's buffer in it wakes the
/// reader seldom anyway.
const MIN_PAUSE: Duration = Duration::from_millis(1);

/// The longest wait between two attempts to write into a full send buffer.
const MAX_WRITE_BACKOFF: Duration = Duration::from_millis(64);

/// The socket as the reader holds it.
#[derive(Debug)]
enum State {
    /// Registered with the runtime's poller, which wakes the reader when data arrives.
    Registered(TcpStream),
    /// Off the poller, until the current pause has passed.
    Looked(std::net::TcpStream),
    /// Lost in a failed switch between the two.
    Lost,
}

/// The reading side of the connection.
#[derive(Debug)]
pub(crate) struct ReadSocket {
    state: State,
    /// Bytes read since the current look began; `None` outside a look.
    gathered: Option<usize>,
    /// The current wait between looks: halved when a look finds the socket's buffer about
    /// full (the wait held the sender back), doubled up to [`COALESCE`] when it finds it
    /// mostly empty.
    pause: Duration,
}

impl ReadSocket {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            state: State::Registered(stream),
            gathered: None,
            pause: COALESCE,
        }
    }

    /// Reads what has arrived into `buffer`'s spare capacity (at least one byte, or 0 at the
    /// end of the stream). `streaming` says large frames are arriving: a drained socket is
    /// then looked at again after a pause rather than waited for. Cancel-safe.
    pub(crate) async fn read_buf(
        &mut self,
        buffer: &mut BytesMut,
        streaming: bool,
    ) -> io::Result<usize> {
        loop {
            match &mut self.state {
                State::Registered(stream) if streaming && self.gathered.is_some() => {
                    // Within a look: take what is there.
                    match stream.try_read_buf(buffer) {
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                            let gathered = self.gathered.take().unwrap_or(0);
                            self.pause = next_pause(self.pause, gathered, stream);
                            self.leave_poller()?;
                        }
                        read => {
                            if let (Ok(bytes), Some(gathered)) = (&read, self.gathered.as_mut()) {
                                *gathered += bytes;
                            }
                            return read;
                        }
                    }
                }
                State::Registered(stream) => {
                    // Wait for data on the poller: at the start of a look (the registration
                    // reports data already there at once), or outside a stream.
                    let read = stream.read_buf(buffer).await;
                    self.gathered = match (&read, streaming) {
                        (Ok(bytes), true) => Some(*bytes),
                        _ => None,
                    };
                    return read;
                }
                State::Looked(_) => {
                    tokio::time::sleep(self.pause).await;
                    self.join_poller()?;
                }
                State::Lost => return Err(lost()),
            }
        }
    }

    fn leave_poller(&mut self) -> io::Result<()> {
        if let State::Registered(stream) = std::mem::replace(&mut self.state, State::Lost) {
            self.state = State::Looked(stream.into_std()?);
        }
        Ok(())
    }

    fn join_poller(&mut self) -> io::Result<()> {
        if let State::Looked(stream) = std::mem::replace(&mut self.state, State::Lost) {
            self.state = State::Registered(TcpStream::from_std(stream)?);
        }
        Ok(())
    }
}

/// The wait after `pause` when the last look gathered `gathered` bytes, against the socket's
/// buffer size (which the kernel grows as the reader takes more at once): half as long when
/// the buffer was about full (the wait held the sender back), twice as long (up to
/// [`COALESCE`]) when it was mostly empty.
fn next_pause(pause: Duration, gathered: usize, stream: &TcpStream) -> Duration {
    let buffer = socket2::SockRef::from(stream)
        .recv_buffer_size()
        .unwrap_or(0);
    pause_for(pause, gathered, buffer)
}

/// [`next_pause`] for a receive buffer of `buffer` bytes as the kernel reports it.
fn pause_for(pause: Duration, gathered: usize, buffer: usize) -> Duration {
    // The kernel reports twice the room for data (the rest is bookkeeping).
    let room = buffer / 2;
    if gathered * 4 >= room * 3 {
        (pause / 2).max(MIN_PAUSE)
    } else if gathered * 4 < room {
        (pause * 2).min(COALESCE)
    } else {
        pause
    }
}

fn lost() -> io::Error {
    io::Error::other("the socket was lost switching to or from the runtime's poller")
}

/// The writing side of the connection: a second handle on the socket, not registered with
/// the poller (its readiness would wake the reader's thread for every frame that arrives).
#[derive(Debug)]
pub(crate) struct WriteSocket {
    stream: std::net::TcpStream,
}

impl WriteSocket {
    /// A writer on `stream`, which must be non-blocking.
    pub(crate) fn new(stream: std::net::TcpStream) -> Self {
        Self { stream }
    }

    /// Writes all of `bytes`; while the send buffer is full, tries again after a pause that
    /// doubles up to [`MAX_WRITE_BACKOFF`].
    pub(crate) async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let mut backoff = Duration::from_millis(1);
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    bytes = &bytes[written..];
                    backoff = Duration::from_millis(1);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_WRITE_BACKOFF);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Ends the stream: the peer reads its end once it has read what came before.
    pub(crate) fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

/// Splits a connected stream into its reading and writing sides.
pub(crate) fn split(stream: TcpStream) -> io::Result<(ReadSocket, WriteSocket)> {
    let stream = stream.into_std()?;
    let writer = stream.try_clone()?;
    Ok((
        ReadSocket::new(TcpStream::from_std(stream)?),
        WriteSocket::new(writer),
    ))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn the_pause_shrinks_when_a_look_finds_the_buffer_nearly_full_and_grows_when_not() {
        let ms = Duration::from_millis;
        let buffer = 8 << 20; // 4 MiB of room.
        assert_eq!(pause_for(ms(20), 3 << 20, buffer), ms(10));
        assert_eq!(pause_for(ms(2), 4 << 20, buffer), MIN_PAUSE);
        assert_eq!(pause_for(MIN_PAUSE, 4 << 20, buffer), MIN_PAUSE);
        assert_eq!(pause_for(ms(10), 2 << 20, buffer), ms(10));
        assert_eq!(pause_for(ms(5), 500 << 10, buffer), ms(10));
        assert_eq!(pause_for(ms(20), 0, buffer), COALESCE);
        // No size known: never wait longer than the pause already is.
        assert!(pause_for(ms(20), 1, 0) <= ms(20));
    }

    #[tokio::test]
    async fn a_write_into_a_full_send_buffer_waits_for_the_peer_and_loses_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let sent: Vec<u8> = (0..8 << 20).map(|index: u32| (index % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let (mut server, _) = listener.accept().await.expect("accept");
            // Far more than the socket buffers hold: the writer meets a full buffer.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut received = Vec::new();
            server.read_to_end(&mut received).await.expect("read");
            received
        });
        let (_read, mut write) =
            split(TcpStream::connect(address).await.expect("connect")).expect("split");
        write.write_all(&sent).await.expect("written");
        write.shutdown().expect("shutdown");
        assert!(reader.await.expect("reader") == sent);
    }
}
