//! The grader's own sockets to the server: opened here (TCP or a Unix socket, as the
//! configuration says) so that every byte the server sends passes a guard that reads the
//! protocol's framing and refuses a message larger than the grader will hold. The client
//! library would otherwise buffer a message of any size (PostgreSQL sends values of up
//! to 1 GB) before the grader's own caps could look at it. The same guard keeps the
//! column types of every row description it passes on: the simple query protocol gives
//! them, but the client library hands on only the column names.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;

/// A socket of either kind.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Where a server listens: the first host and port of a configuration.
#[derive(Debug, Clone)]
pub struct Endpoint {
    host: Host,
    port: u16,
    timeout: Duration,
}

impl Endpoint {
    pub fn of(config: &tokio_postgres::Config) -> Endpoint {
        let host = config
            .get_hosts()
            .first()
            .cloned()
            .unwrap_or_else(|| Host::Unix("/var/run/postgresql".into()));
        Endpoint {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            timeout: config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10)),
        }
    }

    /// Opens a plain socket to the server.
    pub async fn open(&self) -> io::Result<Socket> {
        let connect = async {
            match &self.host {
                Host::Tcp(name) => {
                    let stream = TcpStream::connect((name.as_str(), self.port)).await?;
                    stream.set_nodelay(true)?;
                    Ok(Socket::Tcp(stream))
                }
                Host::Unix(dir) => {
                    let path = dir.join(format!(".s.PGSQL.{}", self.port));
                    Ok(Socket::Unix(UnixStream::connect(path).await?))
                }
            }
        };
        tokio::time::timeout(self.timeout, connect)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where a stream records the size of the message it refused (0: none), so that the
/// session can tell a refused message from a lost server.
pub type Refused = Arc<AtomicU64>;

/// The columns of one row description (the protocol's `T` message): their names and type
/// OIDs, as the server sent them. A domain is sent as its base type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub names: Vec<String>,
    pub types: Vec<u32>,
}

/// The row descriptions a stream has passed on, oldest first (`None` for one too large
/// to keep or that could not be read), for the session to take as it reads each result.
pub type Descriptions = Arc<Mutex<VecDeque<Option<Description>>>>;

/// The longest row description kept: 1664 columns of 63-byte names are about 136 KiB.
const DESCRIPTION_LIMIT: u64 = 256 * 1024;

/// A stream that follows the server's message framing (one type byte, then a 4-byte
/// big-endian length that counts itself) and fails the read that would deliver a message
/// longer than `cap` bytes, before any of its body is buffered. It keeps the column types
/// of every row description it passes on.
#[derive(Debug)]
pub struct Capped<S> {
    inner: S,
    cap: u64,
    refused: Refused,
    descriptions: Descriptions,
    /// Bytes of the current message's header seen so far (type byte and length).
    header: [u8; 5],
    header_len: usize,
    /// Body bytes of the current message still to come.
    body_left: u64,
    /// The body of the row description being passed on, while it is.
    description: Option<Vec<u8>>,
}

impl<S> Capped<S> {
    pub fn new(inner: S, cap: u64) -> (Capped<S>, Refused, Descriptions) {
        let refused: Refused = Arc::new(AtomicU64::new(0));
        let descriptions: Descriptions = Arc::default();
        (
            Capped {
                inner,
                cap,
                refused: refused.clone(),
                descriptions: descriptions.clone(),
                header: [0; 5],
                header_len: 0,
                body_left: 0,
                description: None,
            },
            refused,
            descriptions,
        )
    }

    /// Keeps the row description whose body is complete.
    fn described(&mut self, body: Option<Vec<u8>>) {
        let parsed = body.and_then(|b| parse_description(&b));
        if let Ok(mut queue) = self.descriptions.lock() {
            queue.push_back(parsed);
        }
    }

    /// Follows the framing over `bytes`; `Err` with the declared size of a message over
    /// the cap.
    fn follow(&mut self, mut bytes: &[u8]) -> Result<(), u64> {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len() as u64);
                self.body_left -= take;
                if let Some(body) = &mut self.description {
                    body.extend_from_slice(&bytes[..take as usize]);
                }
                bytes = &bytes[take as usize..];
                if self.body_left == 0 && self.description.is_some() {
                    let body = self.description.take();
                    self.described(body);
                }
                continue;
            }
            let need = 5 - self.header_len;
            let take = need.min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as u64;
                if length > self.cap {
                    return Err(length);
                }
                self.body_left = length.saturating_sub(4);
                if self.header[0] == b'T' {
                    if self.body_left == 0 || self.body_left > DESCRIPTION_LIMIT {
                        self.described(None);
                    } else {
                        self.description = Some(Vec::with_capacity(self.body_left as usize));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads a row description's body: a count, then per column its name (ending in a NUL
/// byte), table OID, column number, type OID, type length, type modifier and format.
fn parse_description(body: &[u8]) -> Option<Description> {
    let count = u16::from_be_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let mut rest = &body[2..];
    let mut names = Vec::with_capacity(count);
    let mut types = Vec::with_capacity(count);
    for _ in 0..count {
        let end = rest.iter().position(|&b| b == 0)?;
        names.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        let fixed = rest.get(end + 1..end + 19)?;
        types.push(u32::from_be_bytes(fixed[6..10].try_into().ok()?));
        rest = &rest[end + 19..];
    }
    Some(Description { names, types })
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused.load(Ordering::SeqCst) > 0 {
            return Poll::Ready(Err(io::Error::other("message over the grader's limit")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = buf.filled()[before..].to_vec();
                if let Err(size) = this.follow(&fresh) {
                    this.refused.store(size, Ordering::SeqCst);
                    buf.set_filled(before);
                    return Poll::Ready(Err(io::Error::other(format!(
                        "the server sent a message of {size} bytes, over the grader's limit"
                    ))));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Reads `stream` to its end through a cap, `chunk` bytes at a time.
    async fn through(stream: Vec<u8>, cap: u64, chunk: usize) -> (io::Result<Vec<u8>>, u64) {
        let (reader, mut writer) = tokio::io::duplex(chunk.max(1));
        let feed = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for part in stream.chunks(chunk.max(1)) {
                if writer.write_all(part).await.is_err() {
                    return;
                }
            }
        });
        let (mut capped, refused, _) = Capped::new(reader, cap);
        let mut out = Vec::new();
        let result = capped.read_to_end(&mut out).await.map(|_| out);
        feed.abort();
        (result, refused.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn messages_under_the_cap_pass_unchanged_in_any_chunking() {
        let mut stream = message(b'T', b"columns");
        stream.extend(message(b'D', &[7; 300]));
        stream.extend(message(b'Z', b"I"));
        for chunk in [1, 2, 3, 5, 7, 64, 4096] {
            let (out, refused) = through(stream.clone(), 400, chunk).await;
            assert_eq!(out.expect("read"), stream, "chunk {chunk}");
            assert_eq!(refused, 0);
        }
    }

    /// A row description's body for columns of `(name, type OID)`.
    fn description(columns: &[(&str, u32)]) -> Vec<u8> {
        let mut body = (columns.len() as u16).to_be_bytes().to_vec();
        for (name, oid) in columns {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(&16_384u32.to_be_bytes()); // table
            body.extend_from_slice(&1u16.to_be_bytes()); // column number
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&(-1i16).to_be_bytes()); // length
            body.extend_from_slice(&(-1i32).to_be_bytes()); // modifier
            body.extend_from_slice(&0u16.to_be_bytes()); // text format
        }
        body
    }

    #[tokio::test]
    async fn row_descriptions_are_kept_in_order_in_any_chunking() {
        let mut stream = message(b'T', &description(&[("id", 20), ("día", 1184)]));
        stream.extend(message(b'D', &[7; 30]));
        stream.extend(message(b'T', &description(&[])));
        stream.extend(message(b'T', b"\x00\x02cut"));
        stream.extend(message(b'T', &description(&[("total", 1700)])));
        stream.extend(message(b'Z', b"I"));
        for chunk in [1, 2, 3, 5, 7, 64, 4096] {
            let (reader, mut writer) = tokio::io::duplex(chunk);
            let feed = {
                let stream = stream.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    for part in stream.chunks(chunk) {
                        if writer.write_all(part).await.is_err() {
                            return;
                        }
                    }
                })
            };
            let (mut capped, _, descriptions) = Capped::new(reader, 4096);
            let mut out = Vec::new();
            capped.read_to_end(&mut out).await.expect("read");
            feed.abort();
            assert_eq!(out, stream, "chunk {chunk}");
            let kept: Vec<_> = descriptions.lock().expect("lock").drain(..).collect();
            let typed = |columns: &[(&str, u32)]| {
                Some(Description {
                    names: columns.iter().map(|(n, _)| n.to_string()).collect(),
                    types: columns.iter().map(|(_, t)| *t).collect(),
                })
            };
            assert_eq!(
                kept,
                vec![
                    typed(&[("id", 20), ("día", 1184)]),
                    typed(&[]),
                    None,
                    typed(&[("total", 1700)]),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn a_message_over_the_cap_fails_before_its_body() {
        let mut stream = message(b'D', b"small");
        stream.extend(message(b'D', &vec![1; 10_000]));
        for chunk in [1, 4, 9, 1000] {
            let (out, refused) = through(stream.clone(), 1000, chunk).await;
            assert!(out.is_err(), "chunk {chunk}");
            assert_eq!(refused, 10_004);
        }
    }
}
