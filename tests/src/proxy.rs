//! A TCP proxy that can cut the traffic coming from chosen source addresses: a network
//! partition on loopback, without privileges. Give each process its own loopback address as
//! the source of its connections (127.0.0.11, 127.0.0.12, ...) and put a proxy in front of each
//! server: blocking an address at a proxy cuts that process off from that server, and closes
//! the connections it already had.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A running proxy to one target.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    blocked: Arc<Mutex<HashSet<IpAddr>>>,
    conns: Arc<Mutex<Vec<(IpAddr, TcpStream, TcpStream)>>>,
    stop: Arc<AtomicBool>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let blocked: Arc<Mutex<HashSet<IpAddr>>> = Arc::default();
        let conns: Arc<Mutex<Vec<(IpAddr, TcpStream, TcpStream)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (b, c, s) = (blocked.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(peer) = client.peer_addr() else { continue };
                if b.lock().expect("blocked").contains(&peer.ip()) {
                    continue; // dropped: the caller sees its connection closed
                }
                let Ok(upstream) = TcpStream::connect(target) else { continue };
                let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else { continue };
                if let (Ok(c3), Ok(u3)) = (client.try_clone(), upstream.try_clone()) {
                    c.lock().expect("conns").push((peer.ip(), c3, u3));
                }
                std::thread::spawn(move || pump(client, upstream));
                std::thread::spawn(move || pump(u2, c2));
            }
        });
        Proxy { addr, blocked, conns, stop }
    }

    /// Cuts `ip` off: refuses its new connections and closes the ones it has.
    pub fn block(&self, ip: IpAddr) {
        self.blocked.lock().expect("blocked").insert(ip);
        let mut conns = self.conns.lock().expect("conns");
        conns.retain(|(src, client, upstream)| {
            if *src == ip {
                let _ = client.shutdown(Shutdown::Both);
                let _ = upstream.shutdown(Shutdown::Both);
                false
            } else {
                true
            }
        });
    }

    /// Lets `ip` through again.
    pub fn unblock(&self, ip: IpAddr) {
        self.blocked.lock().expect("blocked").remove(&ip);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        for (_, client, upstream) in self.conns.lock().expect("conns").drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}
