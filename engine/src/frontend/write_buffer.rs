//! Backend messages held until the client has to act on them, as PostgreSQL does.
//!
//! pgwire flushes the socket after every message it sends (BindComplete, RowDescription, each
//! DataRow batch, CommandComplete, ReadyForQuery), so one prepared `SELECT 1` cost five `send`
//! system calls, 39% of the coordinator's CPU under pgbench. PostgreSQL keeps its output in a
//! buffer and sends it when the buffer fills or when the client must answer. This writer does
//! the same: a flush reaches the socket only when a message the client waits for has been written
//! (ReadyForQuery, an authentication request, the start of COPY FROM STDIN, a notice, an error) or more
//! than [`SEND_AT`] bytes are held; the client's Flush message and closing the connection send
//! everything.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes held before they are sent whatever the messages (PostgreSQL's send buffer is 8 kB).
const SEND_AT: usize = 8192;

/// Message types after which the client waits for the server: ReadyForQuery, an authentication
/// request, CopyInResponse / CopyBothResponse (it must send its data), a notice (progress the
/// user watches), an error (a FATAL one is followed by the connection closing).
const CLIENT_WAITS_AFTER: &[u8] = b"ZRGWNE";

pub struct WriteBuffer<S> {
    inner: S,
    held: Vec<u8>,
    /// Bytes of `held` already written to `inner`.
    sent: usize,
    /// A message the client waits for is held: the next flush sends.
    must_send: bool,
    /// Where the message being written stands: its header bytes so far, then its length left.
    header: Vec<u8>,
    body_left: usize,
}

impl<S> WriteBuffer<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, held: Vec::with_capacity(SEND_AT), sent: 0, must_send: false, header: Vec::with_capacity(5), body_left: 0 }
    }

    /// The next flush sends everything held (the client sent Flush).
    pub fn send_on_flush(&mut self) {
        self.must_send = true;
    }

    /// Follows message boundaries in `bytes` to notice messages the client waits for.
    fn note_messages(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (5 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 5 {
                let length = u32::from_be_bytes([self.header[1], self.header[2], self.header[3], self.header[4]]) as usize;
                self.must_send |= CLIENT_WAITS_AFTER.contains(&self.header[0]);
                self.body_left = length.saturating_sub(4);
                self.header.clear();
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> WriteBuffer<S> {
    /// Writes everything held to the socket.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.held.clear();
        self.sent = 0;
        self.must_send = false;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBuffer<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBuffer<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // Past the threshold, what is held goes first, so memory stays bounded.
        if self.held.len() >= SEND_AT {
            match self.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.note_messages(buf);
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.must_send && self.held.len() < SEND_AT {
            return Poll::Ready(Ok(()));
        }
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[tokio::test]
    async fn messages_are_sent_when_the_client_must_answer() {
        let (server, mut client) = tokio::io::duplex(1 << 16);
        let mut writer = WriteBuffer::new(server);
        // BindComplete, then a DataRow written in two pieces, then CommandComplete: held.
        writer.write_all(&message(b'2', b"")).await.unwrap();
        let row = message(b'D', b"\x00\x01\x00\x00\x00\x011");
        writer.write_all(&row[..3]).await.unwrap();
        writer.write_all(&row[3..]).await.unwrap();
        writer.write_all(&message(b'C', b"SELECT 1\x00")).await.unwrap();
        writer.flush().await.unwrap();
        let mut byte = [0u8; 1];
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), client.read(&mut byte)).await;
        assert!(nothing.is_err(), "nothing is sent before ReadyForQuery");
        // ReadyForQuery: everything goes, in order.
        writer.write_all(&message(b'Z', b"I")).await.unwrap();
        writer.flush().await.unwrap();
        let expected: Vec<u8> = [message(b'2', b""), row, message(b'C', b"SELECT 1\x00"), message(b'Z', b"I")].concat();
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_client_flush_or_a_full_buffer_sends() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let mut writer = WriteBuffer::new(server);
        writer.write_all(&message(b'1', b"")).await.unwrap();
        writer.send_on_flush();
        writer.flush().await.unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got.to_vec(), message(b'1', b""));
        // Rows past the threshold go without waiting for the end of the result.
        let row = message(b'D', &[b'x'; 1000]);
        for _ in 0..10 {
            writer.write_all(&row).await.unwrap();
            writer.flush().await.unwrap();
        }
        let mut first = vec![0u8; row.len()];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(first, row);
    }
}
