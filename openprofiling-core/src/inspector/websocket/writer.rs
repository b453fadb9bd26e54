//! Writes the client's frames, masked as RFC 6455 asks of a client, with tungstenite's codec.

use std::io;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use super::socket::WriteSocket;

/// A frame for the inspector.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A text message: a CDP request.
    Text(String),
    /// The answer to a ping, with the ping's payload.
    Pong(Bytes),
}

/// The writing half of a client WebSocket.
#[derive(Debug)]
pub(crate) struct FrameWriter {
    socket: WriteSocket,
    /// Reused for every frame: requests are small, and one write sends each whole.
    buffer: Vec<u8>,
}

impl FrameWriter {
    pub(crate) fn new(socket: WriteSocket) -> Self {
        Self {
            socket,
            buffer: Vec::new(),
        }
    }

    /// Sends one frame.
    pub(crate) async fn send(&mut self, message: Outgoing) -> io::Result<()> {
        let frame = match message {
            Outgoing::Text(text) => Frame::message(text, OpCode::Data(Data::Text), true),
            Outgoing::Pong(payload) => Frame::pong(payload),
        };
        self.write(frame).await
    }

    /// Says goodbye: a normal close frame, then the end of the stream.
    pub(crate) async fn close(mut self) -> io::Result<()> {
        let goodbye = Frame::close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        self.write(goodbye).await?;
        self.socket.shutdown()
    }

    async fn write(&mut self, mut frame: Frame) -> io::Result<()> {
        frame.header_mut().mask = Some(random_mask()?);
        self.buffer.clear();
        frame.format(&mut self.buffer).map_err(io::Error::other)?;
        self.socket.write_all(&self.buffer).await
    }
}

/// A fresh mask for a client frame, from the operating system's random source.
fn random_mask() -> io::Result<[u8; 4]> {
    getrandom::u32()
        .map(u32::to_ne_bytes)
        .map_err(|error| io::Error::other(format!("no random mask for a frame: {error}")))
}
