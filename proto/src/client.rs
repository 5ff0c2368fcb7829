//! A small async RESP client.
//!
//! Used by the sentinel to talk to data nodes, by a replica to talk to its master, and by tests.
//! One connection, one request at a time or a pipeline; RESP3 push frames (pub/sub messages) that
//! arrive between replies are queued and handed out by [`Client::next_push`].

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::decode::Decoder;
use crate::error::ProtoError;
use crate::frame::{Frame, encode_request};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not RESP.
    #[error("{0}")]
    Protocol(#[from] ProtoError),
    /// Connecting or waiting for a reply took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(String),
}

/// Opens a TCP connection to `addr` from the local address `source` (Redis's
/// `bind-source-addr`), or from the system's choice when `None`. Shared by [`Client`] and the
/// replica's link to its master.
pub async fn connect_tcp(
    addr: impl tokio::net::ToSocketAddrs + std::fmt::Debug + Copy,
    source: Option<std::net::IpAddr>,
) -> std::io::Result<TcpStream> {
    let Some(ip) = source else { return TcpStream::connect(addr).await };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, format!("no {ip} address for {addr:?}"));
    for target in tokio::net::lookup_host(addr).await?.filter(|t| t.is_ipv4() == ip.is_ipv4()) {
        let socket = if ip.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
        match socket.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One RESP connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    read: BytesMut,
    write: BytesMut,
    decoder: Decoder,
    pushes: VecDeque<Frame>,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to `addr` (`host:port`), giving up after `timeout`. The same timeout then bounds
    /// every wait for a reply.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
        Client::connect_from(addr, None, timeout).await
    }

    /// [`Client::connect`] from the local address `source` (Redis's `bind-source-addr`), or
    /// from the system's choice when `None`.
    pub async fn connect_from(
        addr: &str,
        source: Option<std::net::IpAddr>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let stream =
            tokio::time::timeout(timeout, connect_tcp(addr, source)).await.map_err(|_| ClientError::Timeout)??;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            read: BytesMut::with_capacity(16 * 1024),
            write: BytesMut::with_capacity(1024),
            decoder: Decoder::default(),
            pushes: VecDeque::new(),
            timeout: Some(timeout),
        })
    }

    /// Changes the reply timeout (`None`: wait forever, e.g. for a subscriber).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// `AUTH [user] password`; an error reply becomes [`ClientError::Server`].
    pub async fn auth(&mut self, user: Option<&str>, password: &str) -> Result<(), ClientError> {
        let reply = match user {
            Some(u) => self.cmd(&["AUTH", u, password]).await?,
            None => self.cmd(&["AUTH", password]).await?,
        };
        ok_or_server(reply).map(|_| ())
    }

    /// `HELLO 3`: switches the connection to RESP3 and returns the server's hello map.
    pub async fn hello3(&mut self) -> Result<Frame, ClientError> {
        let reply = self.cmd(&["HELLO", "3"]).await?;
        ok_or_server(reply)
    }

    /// Sends one command and returns its reply (an error reply is returned as a frame).
    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, ClientError> {
        self.send(args).await?;
        self.reply().await
    }

    /// Sends one command and turns an error reply into [`ClientError::Server`].
    pub async fn cmd_ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, ClientError> {
        let reply = self.cmd(args).await?;
        ok_or_server(reply)
    }

    /// Sends all commands in one write and reads their replies in order.
    pub async fn pipeline<A: AsRef<[u8]>>(&mut self, cmds: &[Vec<A>]) -> Result<Vec<Frame>, ClientError> {
        for c in cmds {
            encode_request(&mut self.write, c);
        }
        self.flush().await?;
        let mut out = Vec::with_capacity(cmds.len());
        for _ in cmds {
            out.push(self.reply().await?);
        }
        Ok(out)
    }

    /// Writes one command without waiting for its reply.
    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), ClientError> {
        encode_request(&mut self.write, args);
        self.flush().await
    }

    /// Writes raw bytes (for tests of malformed input).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.write.extend_from_slice(bytes);
        self.flush().await
    }

    /// The next reply that is not a push frame.
    pub async fn reply(&mut self) -> Result<Frame, ClientError> {
        loop {
            let frame = self.read_frame().await?;
            match frame {
                Frame::Push(_) => self.pushes.push_back(frame),
                other => return Ok(other),
            }
        }
    }

    /// The next push frame: a RESP3 `>` frame, or in RESP2 subscribed mode the next array.
    pub async fn next_push(&mut self) -> Result<Frame, ClientError> {
        if let Some(f) = self.pushes.pop_front() {
            return Ok(f);
        }
        self.read_frame().await
    }

    /// The next frame of any kind, straight off the wire.
    pub async fn read_frame(&mut self) -> Result<Frame, ClientError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.read)? {
                return Ok(frame);
            }
            let read = self.stream.read_buf(&mut self.read);
            let n = match self.timeout {
                Some(t) => tokio::time::timeout(t, read).await.map_err(|_| ClientError::Timeout)??,
                None => read.await?,
            };
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        let buf = self.write.split().freeze();
        let write = self.stream.write_all(&buf);
        match self.timeout {
            Some(t) => tokio::time::timeout(t, write).await.map_err(|_| ClientError::Timeout)??,
            None => write.await?,
        }
        Ok(())
    }

    /// Access to the underlying socket (e.g. to shut it down in a test).
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> Bytes {
        Bytes::copy_from_slice(&self.read)
    }
}

/// Turns an error frame into [`ClientError::Server`].
pub fn ok_or_server(frame: Frame) -> Result<Frame, ClientError> {
    match frame.as_error() {
        Some(e) => Err(ClientError::Server(e)),
        None => Ok(frame),
    }
}
