//! A fault proxy in front of one data node: network partitions and slow links on loopback,
//! without privileges.
//!
//! `vigil up` gives every process its own loopback address and makes its outgoing connections
//! come from it (`bind-source-addr`), so the proxy knows who is talking by the source address of
//! each connection. Faults:
//! - **partition** from a set of source addresses: traffic of their connections stops in both
//!   directions — nothing is read, nothing delivered, nothing closed, as when packets are
//!   dropped. New connections from them are accepted but not forwarded (the caller sees its
//!   requests go unanswered, which is what a TCP client sees in a real partition once its
//!   connect is through). Healing lets everything held flow again, as TCP retransmission would.
//! - **delay**: every chunk is delivered `delay` after it was read, in each direction (one-way
//!   latency; chunks are not serialised behind each other's delay, so throughput is not
//!   throttled beyond what the latency does to request/reply traffic).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The faults in force at one proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Sources cut off from the node.
    pub blocked: HashSet<IpAddr>,
    /// Every source is cut off (clients included).
    pub all: bool,
    /// One-way delay added to every chunk.
    pub delay: Duration,
}

impl Faults {
    fn cuts(&self, ip: IpAddr) -> bool {
        self.all || self.blocked.contains(&ip)
    }
}

/// A proxy: listens on `addr`, forwards to the node.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    faults: watch::Sender<Faults>,
}

impl Proxy {
    /// Starts forwarding connections on `listener` to `target`, connecting from `source`.
    pub fn start(listener: TcpListener, target: SocketAddr, source: IpAddr) -> std::io::Result<Proxy> {
        let addr = listener.local_addr()?;
        let (faults, rx) = watch::channel(Faults::default());
        tokio::spawn(async move {
            while let Ok((client, peer)) = listener.accept().await {
                tokio::spawn(serve(client, peer.ip(), target, source, rx.clone()));
            }
        });
        Ok(Proxy { addr, faults })
    }

    /// Changes the faults in force.
    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        self.faults.send_modify(change);
    }
}

/// Waits until `ip`'s traffic may flow; false when the proxy is gone.
async fn open(rx: &mut watch::Receiver<Faults>, ip: IpAddr) -> bool {
    rx.wait_for(|f| !f.cuts(ip)).await.is_ok()
}

async fn serve(client: TcpStream, ip: IpAddr, target: SocketAddr, source: IpAddr, mut rx: watch::Receiver<Faults>) {
    if !open(&mut rx, ip).await {
        return;
    }
    let upstream = async {
        let socket = if source.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(target).await
    };
    let Ok(upstream) = upstream.await else { return };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    tokio::join!(pump(cr, uw, ip, rx.clone()), pump(ur, cw, ip, rx));
}

/// Copies one direction: a reader that stops while cut off, and a writer that delivers each
/// chunk at its due time, once the link is open.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, ip: IpAddr, rx: watch::Receiver<Faults>) {
    let (tx, mut chunks) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let mut rrx = rx.clone();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if !open(&mut rrx, ip).await {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let due = Instant::now() + rrx.borrow().delay;
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let mut wrx = rx;
    let writer = async move {
        while let Some((due, chunk)) = chunks.recv().await {
            if due > Instant::now() {
                tokio::time::sleep_until(due).await; // even an expired timer costs a timer tick
            }
            if !open(&mut wrx, ip).await || to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
