//! A client WebSocket made for CDP's heap snapshot streams: tungstenite's handshake helpers
//! and frame codec, with the reading buffered our own way (see [`FrameReader`]).
//!
//! tokio-tungstenite's stream reads into a zeroed buffer the size of about one frame, copies
//! the part of the next frame it read with every frame, and checks every text frame for
//! UTF-8; on a snapshot's stream of 100 KB frames that was a third of the session's CPU time.
//! Here the kernel copies into large buffers that frames are split out of, and the decoder
//! checks the text it reads, as it reads it. While frames stream in, the socket is read in
//! batches rather than on each frame's arrival (see `socket.rs`).

mod handshake;
mod reader;
mod socket;
mod writer;

use std::io;

use tokio::net::TcpStream;
use url::{Host, Url};

pub(crate) use reader::{FrameReader, ReadError, Received};
pub(crate) use writer::{FrameWriter, Outgoing};

/// Opens a WebSocket to `url` (a `ws://` URL), refusing messages above `max_message_size`.
pub(crate) async fn connect(
    url: &Url,
    max_message_size: usize,
) -> io::Result<(FrameReader, FrameWriter)> {
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = match url.host() {
        Some(Host::Domain(domain)) => TcpStream::connect((domain, port)).await?,
        Some(Host::Ipv4(address)) => TcpStream::connect((address, port)).await?,
        Some(Host::Ipv6(address)) => TcpStream::connect((address, port)).await?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the URL names no host",
            ));
        }
    };
    // Requests are small and wait for their answers: send each at once.
    stream.set_nodelay(true)?;
    let (stream, received) = handshake::handshake(stream, url).await?;
    let (read, write) = socket::split(stream)?;
    Ok((
        FrameReader::new(read, &received, max_message_size),
        FrameWriter::new(write),
    ))
}
