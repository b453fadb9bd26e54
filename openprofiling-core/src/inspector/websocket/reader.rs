//! Reads the inspector's WebSocket frames into large shared buffers, so that a frame reaches
//! its subscriber as a slice of the buffer the kernel copied it into: no zeroing before reads,
//! no copy of the frame, no UTF-8 pass (the decoder checks what it reads as text).

use std::io::Cursor;

use bytes::{Buf, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::super::buffers::Buffers;
use super::socket::ReadSocket;

/// Frames smaller than this are copied out of the buffer, so that a small event someone keeps
/// does not keep a whole buffer alive.
const SMALL_FRAME: usize = 4 << 10;

/// How many earlier receive buffers are kept for reuse (see [`Buffers`]).
const SPARE_BUFFERS: usize = 4;

/// A frame at least this large says a stream of them is arriving (a snapshot's chunks).
const STREAMING_FRAME: usize = 32 << 10;

/// The longest frame header (2 bytes, an 8-byte length, a 4-byte mask).
const MAX_HEADER: usize = 14;

/// A message received, or a control frame.
#[derive(Debug)]
pub(crate) enum Received {
    /// A text message, not yet checked to be UTF-8.
    Text(Bytes),
    /// A binary message (CDP never sends one); its length.
    Binary(usize),
    /// A ping, with its payload, to be answered with a pong.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The inspector's close frame, with its code and reason when it gave them.
    Close(Option<(u16, String)>),
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The inspector closed the TCP connection without a close frame.
    #[error("the inspector closed the connection{}", if *.mid_message { " in the middle of a message" } else { "" })]
    Closed {
        /// True when part of a frame had arrived.
        mid_message: bool,
    },
    /// The socket failed.
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The inspector broke the WebSocket protocol.
    #[error("the inspector broke the WebSocket protocol: {0}")]
    Protocol(String),
    /// A message above the session's size limit; refused from its header, before it is read.
    #[error(
        "the inspector sent a message of {size} bytes, above the limit of {limit} bytes \
         (raise it with SessionBuilder::max_message_size)"
    )]
    TooBig {
        /// The message's size, as far as its frame headers say.
        size: u64,
        /// The session's limit.
        limit: usize,
    },
}

/// A message sent in several frames, while its frames arrive.
struct Fragments {
    text: bool,
    data: BytesMut,
}

/// The reading half of a client WebSocket.
pub(crate) struct FrameReader {
    socket: ReadSocket,
    /// Frames are read into the current buffer and split off its front as they complete: a
    /// frame that does not fit in what is left goes on in another buffer, where only its
    /// first part is copied (about a twentieth of a snapshot's 100 KB frames, where a buffer
    /// the size of one frame would copy half).
    buffers: Buffers,
    max_message_size: usize,
    fragments: Option<Fragments>,
    /// The last frame was large: more are probably coming (see [`ReadSocket`]).
    streaming: bool,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buffers.filled().len())
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

/// A parsed frame header.
struct Header {
    is_final: bool,
    opcode: OpCode,
    /// The header's own length.
    len: usize,
    /// The payload's length.
    payload: u64,
}

impl FrameReader {
    /// Reads frames from `socket`; `received` holds what the handshake read past its answer.
    pub(crate) fn new(socket: ReadSocket, received: &[u8], max_message_size: usize) -> Self {
        let mut buffers = Buffers::new(SPARE_BUFFERS);
        buffers.make_room_for(received.len());
        buffers.current().extend_from_slice(received);
        Self {
            socket,
            buffers,
            max_message_size,
            fragments: None,
            streaming: false,
        }
    }

    /// The next message or control frame. Cancel-safe: what was read stays buffered.
    pub(crate) async fn next(&mut self) -> Result<Received, ReadError> {
        loop {
            let wanted = match self.header()? {
                Some(header) => {
                    let total = frame_total(&header, self.max_message_size)?;
                    if self.buffers.filled().len() >= total {
                        self.streaming = total >= STREAMING_FRAME;
                        if let Some(received) = self.take_frame(&header, total)? {
                            return Ok(received);
                        }
                        continue;
                    }
                    total
                }
                None => self.buffers.filled().len() + MAX_HEADER,
            };
            self.buffers.make_room_for(wanted);
            if self
                .socket
                .read_buf(self.buffers.current(), self.streaming)
                .await?
                == 0
            {
                return Err(ReadError::Closed {
                    mid_message: !self.buffers.filled().is_empty() || self.fragments.is_some(),
                });
            }
        }
    }

    /// The header at the start of the buffer, once it has all arrived.
    fn header(&self) -> Result<Option<Header>, ReadError> {
        let mut cursor = Cursor::new(self.buffers.filled());
        let Some((header, payload)) = FrameHeader::parse(&mut cursor)
            .map_err(|error| ReadError::Protocol(format!("bad frame header ({error})")))?
        else {
            return Ok(None);
        };
        if header.mask.is_some() {
            return Err(ReadError::Protocol(
                "a masked frame (servers never mask)".into(),
            ));
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(ReadError::Protocol(
                "a reserved bit set, with no extension agreed".into(),
            ));
        }
        if let OpCode::Control(_) = header.opcode {
            if payload > 125 || !header.is_final {
                return Err(ReadError::Protocol(
                    "a control frame longer than 125 bytes or fragmented".into(),
                ));
            }
        }
        // The cursor read at most 14 bytes.
        let len = usize::try_from(cursor.position()).unwrap_or(MAX_HEADER);
        Ok(Some(Header {
            is_final: header.is_final,
            opcode: header.opcode,
            len,
            payload,
        }))
    }

    /// Takes the complete frame of `total` bytes off the buffer; `None` for a fragment that
    /// does not end its message.
    fn take_frame(&mut self, header: &Header, total: usize) -> Result<Option<Received>, ReadError> {
        let payload = if total < SMALL_FRAME {
            let payload = Bytes::copy_from_slice(&self.buffers.filled()[header.len..total]);
            self.buffers.current().advance(total);
            payload
        } else {
            let mut frame = self.buffers.current().split_to(total);
            frame.advance(header.len);
            frame.freeze()
        };
        match header.opcode {
            OpCode::Data(Data::Continue) => self.continue_message(header.is_final, &payload),
            OpCode::Data(data) => {
                if self.fragments.is_some() {
                    return Err(ReadError::Protocol(
                        "a new message before the previous one ended".into(),
                    ));
                }
                let text = matches!(data, Data::Text);
                if header.is_final {
                    return Ok(Some(message(text, payload)));
                }
                let mut data = BytesMut::with_capacity(payload.len());
                data.extend_from_slice(&payload);
                self.fragments = Some(Fragments { text, data });
                Ok(None)
            }
            OpCode::Control(Control::Ping) => Ok(Some(Received::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(Some(Received::Pong)),
            OpCode::Control(Control::Close) => Ok(Some(Received::Close(close_reason(&payload)))),
            OpCode::Control(Control::Reserved(code)) => Err(ReadError::Protocol(format!(
                "a frame with the reserved opcode {code}"
            ))),
        }
    }

    /// Adds a continuation frame to the message being assembled.
    fn continue_message(
        &mut self,
        is_final: bool,
        payload: &[u8],
    ) -> Result<Option<Received>, ReadError> {
        let Some(mut fragments) = self.fragments.take() else {
            return Err(ReadError::Protocol(
                "a continuation frame with no message to continue".into(),
            ));
        };
        let size = (fragments.data.len() + payload.len()) as u64;
        if size > self.max_message_size as u64 {
            return Err(ReadError::TooBig {
                size,
                limit: self.max_message_size,
            });
        }
        fragments.data.extend_from_slice(payload);
        if !is_final {
            self.fragments = Some(fragments);
            return Ok(None);
        }
        Ok(Some(message(fragments.text, fragments.data.freeze())))
    }
}

/// The whole frame's length, header included, once its header says it is within the limit.
fn frame_total(header: &Header, max_message_size: usize) -> Result<usize, ReadError> {
    let too_big = || ReadError::TooBig {
        size: header.payload,
        limit: max_message_size,
    };
    if header.payload > max_message_size as u64 {
        return Err(too_big());
    }
    usize::try_from(header.payload)
        .ok()
        .and_then(|payload| payload.checked_add(header.len))
        .ok_or_else(too_big)
}

fn message(text: bool, payload: Bytes) -> Received {
    if text {
        Received::Text(payload)
    } else {
        Received::Binary(payload.len())
    }
}

/// The code and reason of a close frame's payload, when it has them.
fn close_reason(payload: &[u8]) -> Option<(u16, String)> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    Some((
        u16::from_be_bytes(*code),
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::super::buffers::BUFFER_SIZE;
    use super::*;

    /// A server frame: unmasked, with `opcode` and `payload`.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            len @ 0..=125 => bytes.push(len as u8),
            len @ 126..=0xFFFF => {
                bytes.push(126);
                bytes.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                bytes.push(127);
                bytes.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(payload);
        bytes
    }

    /// A reader over a socket whose other end has written `sent` (in pieces of `piece`
    /// bytes) and closed, after `received` was taken as read by the handshake.
    async fn reader_of(received: &[u8], sent: Vec<u8>, piece: usize, limit: usize) -> FrameReader {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut server, _) = listener.accept().await.expect("accept");
            for part in sent.chunks(piece.max(1)) {
                server.write_all(part).await.expect("write");
                server.flush().await.expect("flush");
            }
        });
        let client = TcpStream::connect(address).await.expect("connect");
        FrameReader::new(ReadSocket::new(client), received, limit)
    }

    async fn text(reader: &mut FrameReader) -> Bytes {
        match reader.next().await {
            Ok(Received::Text(text)) => text,
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_of_every_size_arrive_whole_and_in_order_across_buffers() {
        // Sizes around the small-frame copy, the 16- and 64-bit lengths, and the buffer size,
        // so that frames straddle buffers, spares are reused, and one frame outgrows a buffer.
        let sizes = [
            0,
            1,
            125,
            126,
            SMALL_FRAME - 3,
            SMALL_FRAME,
            65_535,
            65_536,
            100 * 1024,
            BUFFER_SIZE - 5,
            BUFFER_SIZE + 7,
            3 * BUFFER_SIZE,
        ];
        let payloads: Vec<Vec<u8>> = (0..60)
            .map(|index| {
                let len = sizes[index % sizes.len()];
                (0..len).map(|byte| (byte * 7 + index) as u8).collect()
            })
            .collect();
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(true, 1, p)).collect();
        for piece in [1_000_003, 4_096, 77] {
            let mut reader = reader_of(&stream[..3], stream[3..].to_vec(), piece, 8 << 20).await;
            let mut held = Vec::new();
            for payload in &payloads {
                let got = text(&mut reader).await;
                assert_eq!(&got[..], &payload[..], "piece {piece}");
                // Keep some frames alive, so buffers are shared when the next one is needed.
                held.push(got);
                if held.len() > 5 {
                    held.remove(0);
                }
            }
            assert!(matches!(
                reader.next().await,
                Err(ReadError::Closed { mid_message: false })
            ));
        }
    }

    #[tokio::test]
    async fn a_stream_that_trickles_in_then_pauses_arrives_whole_and_the_reply_after_it_too() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let payloads: Vec<Vec<u8>> = (0..12_u8).map(|index| vec![index; 70_000]).collect();
        let frames: Vec<Vec<u8>> = payloads.iter().map(|p| frame(true, 1, p)).collect();
        tokio::spawn(async move {
            let (mut server, _) = listener.accept().await.expect("accept");
            for frame in frames {
                // Slower than the reader looks, and in pieces, like V8 writing a snapshot.
                for part in frame.chunks(30_000) {
                    server.write_all(part).await.expect("write");
                    tokio::time::sleep(Duration::from_millis(7)).await;
                }
            }
            // A pause long enough for the reader to go back to the poller, then a reply.
            tokio::time::sleep(Duration::from_millis(300)).await;
            server
                .write_all(&frame(true, 1, b"{\"id\":1}"))
                .await
                .expect("write");
            let _ = server.read(&mut [0; 1]).await;
        });
        let client = TcpStream::connect(address).await.expect("connect");
        let mut reader = FrameReader::new(ReadSocket::new(client), &[], 1 << 20);
        for payload in &payloads {
            assert_eq!(&text(&mut reader).await[..], &payload[..]);
        }
        let reply = tokio::time::timeout(Duration::from_secs(5), text(&mut reader))
            .await
            .expect("the reply after the pause arrives");
        assert_eq!(&reply[..], b"{\"id\":1}");
    }

    #[tokio::test]
    async fn fragments_join_and_control_frames_may_come_between_them() {
        let mut stream = frame(false, 1, b"{\"method\":");
        stream.extend(frame(true, 9, b"ping"));
        stream.extend(frame(false, 0, b"\"A.b\","));
        stream.extend(frame(true, 0, b"\"params\":{}}"));
        stream.extend(frame(true, 10, b""));
        stream.extend(frame(true, 2, &[0xff; 10]));
        stream.extend(frame(true, 8, b"\x03\xe8bye"));
        let mut reader = reader_of(&[], stream, 5, 1 << 20).await;
        assert!(matches!(reader.next().await, Ok(Received::Ping(p)) if &p[..] == b"ping"));
        assert_eq!(
            &text(&mut reader).await[..],
            b"{\"method\":\"A.b\",\"params\":{}}"
        );
        assert!(matches!(reader.next().await, Ok(Received::Pong)));
        assert!(matches!(reader.next().await, Ok(Received::Binary(10))));
        assert!(matches!(
            reader.next().await,
            Ok(Received::Close(Some((1000, reason)))) if reason == "bye"
        ));
    }

    #[tokio::test]
    async fn a_message_above_the_limit_is_refused_from_its_header_alone() {
        // The header claims 1 TB; nothing of it follows.
        let header = [0x81, 127, 0, 0, 0x01, 0, 0, 0, 0, 0];
        let mut reader = reader_of(&[], header.to_vec(), 100, 1 << 20).await;
        let error = reader.next().await.expect_err("refused");
        assert!(
            matches!(error, ReadError::TooBig { size, limit } if size == 1 << 40 && limit == 1 << 20)
        );
        assert!(error.to_string().contains("max_message_size"), "{error}");

        // Fragments count together.
        let mut stream = frame(false, 1, &[b'a'; 600]);
        stream.extend(frame(true, 0, &[b'a'; 600]));
        let mut reader = reader_of(&[], stream, 10_000, 1_000).await;
        assert!(matches!(
            reader.next().await,
            Err(ReadError::TooBig { size: 1200, .. })
        ));
    }

    #[tokio::test]
    async fn protocol_violations_are_errors_that_say_what_was_wrong() {
        let masked = vec![0x81, 0x81, 1, 2, 3, 4, b'x'];
        let reserved_bit = vec![0xC1, 0];
        let long_ping = frame(true, 9, &[0; 126]);
        let fragmented_ping = frame(false, 9, b"");
        let stray_continuation = frame(true, 0, b"x");
        let reserved_opcode = vec![0x83, 0];
        let mut interleaved = frame(false, 1, b"a");
        interleaved.extend(frame(true, 1, b"b"));
        for (stream, expected) in [
            (masked, "masked"),
            (reserved_bit, "reserved bit"),
            (long_ping, "control frame"),
            (fragmented_ping, "control frame"),
            (stray_continuation, "continuation"),
            (reserved_opcode, "frame header"),
            (interleaved, "new message"),
        ] {
            let mut reader = reader_of(&[], stream, 100, 1 << 20).await;
            let error = reader.next().await.expect_err(expected);
            assert!(matches!(error, ReadError::Protocol(_)), "{error:?}");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[tokio::test]
    async fn a_connection_closed_mid_frame_says_so() {
        let mut stream = frame(true, 1, b"whole");
        stream.extend(&frame(true, 1, &[b'x'; 1000])[..500]);
        let mut reader = reader_of(&[], stream, 100, 1 << 20).await;
        assert_eq!(&text(&mut reader).await[..], b"whole");
        let error = reader.next().await.expect_err("cut");
        assert!(matches!(error, ReadError::Closed { mid_message: true }));
        assert!(error.to_string().contains("middle of a message"), "{error}");
    }
}
