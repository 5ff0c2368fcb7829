//! The registry of connected clients, for CLIENT LIST / INFO / KILL and INFO clients.
//!
//! Each connection owns a [`ClientInfo`] shared with the registry. The connection updates its
//! fields (plain atomics, written only by their owner, so there is no contention); CLIENT LIST
//! reads them. The registry lock is taken only on connect, disconnect, LIST and KILL, never per
//! command.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// What kind of client this is, for CLIENT KILL TYPE and the `flags` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// An ordinary client.
    Normal,
    /// Subscribed to at least one channel or pattern.
    PubSub,
    /// A replica connected to us (replication issue).
    Replica,
    /// Our master's link (replication issue).
    Master,
}

/// The shared, observable state of one connection.
#[derive(Debug)]
pub struct ClientInfo {
    /// Unique, increasing id (CLIENT ID).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Socket file descriptor.
    pub fd: i64,
    /// When the connection was accepted.
    pub created: Instant,
    /// Milliseconds since `created` of the last command.
    pub last_ms: AtomicU64,
    /// Selected database.
    pub db: AtomicUsize,
    /// Channels subscribed.
    pub sub: AtomicUsize,
    /// Patterns subscribed.
    pub psub: AtomicUsize,
    /// Commands queued in MULTI, or -1.
    pub multi: AtomicI64,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Index in the command table of the last command.
    pub last_cmd: AtomicUsize,
    /// Bytes waiting in the query buffer.
    pub qbuf: AtomicUsize,
    /// Commands processed on this connection (written only by its task: no contention).
    pub commands: AtomicU64,
    /// Bytes read from this connection.
    pub net_in: AtomicU64,
    /// Bytes written to this connection.
    pub net_out: AtomicU64,
    /// Name, lib-name, lib-ver (CLIENT SETNAME / SETINFO).
    pub names: Mutex<ClientNames>,
    /// Kind (normal, pubsub, ...), as a `ClientKind` discriminant.
    kind: AtomicU8,
    /// Cancelled to close the connection (CLIENT KILL, output limits).
    pub kill: CancellationToken,
}

/// Text attributes a client sets on itself.
#[derive(Debug, Default, Clone)]
pub struct ClientNames {
    /// CLIENT SETNAME.
    pub name: String,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: String,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: String,
}

impl ClientInfo {
    /// The client's kind.
    pub fn kind(&self) -> ClientKind {
        match self.kind.load(Ordering::Relaxed) {
            1 => ClientKind::PubSub,
            2 => ClientKind::Replica,
            3 => ClientKind::Master,
            _ => ClientKind::Normal,
        }
    }

    /// Sets the client's kind.
    pub fn set_kind(&self, k: ClientKind) {
        self.kind.store(k as u8, Ordering::Relaxed);
    }

    /// One line of CLIENT LIST (without the trailing newline), in Redis 7's field order.
    pub fn describe(&self, cmd_name: &str) -> String {
        let now = self.created.elapsed();
        let idle = now.as_millis() as u64 - self.last_ms.load(Ordering::Relaxed).min(now.as_millis() as u64);
        let names = self.names.lock().clone();
        let flags = match self.kind() {
            ClientKind::PubSub => "P",
            ClientKind::Replica => "S",
            ClientKind::Master => "M",
            ClientKind::Normal if self.multi.load(Ordering::Relaxed) >= 0 => "x",
            ClientKind::Normal => "N",
        };
        let mut s = String::with_capacity(320);
        let _ = write!(
            s,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
             qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
             cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            names.name,
            now.as_secs(),
            idle / 1000,
            flags,
            self.db.load(Ordering::Relaxed),
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            self.qbuf.load(Ordering::Relaxed),
            cmd_name,
            self.resp.load(Ordering::Relaxed),
            names.lib_name,
            names.lib_ver,
        );
        s
    }
}

/// Traffic counters: per connection while it lives, folded into the registry when it closes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Commands processed.
    pub commands: u64,
    /// Bytes read.
    pub net_in: u64,
    /// Bytes written.
    pub net_out: u64,
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// Traffic of connections that have closed.
    closed: Mutex<Traffic>,
}

impl Registry {
    /// Registers a new connection and returns its shared info.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, fd: i64) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(usize::MAX),
            qbuf: AtomicUsize::new(0),
            commands: AtomicU64::new(0),
            net_in: AtomicU64::new(0),
            net_out: AtomicU64::new(0),
            names: Mutex::new(ClientNames::default()),
            kind: AtomicU8::new(ClientKind::Normal as u8),
            kill: CancellationToken::new(),
        });
        self.clients.lock().insert(id, info.clone());
        info
    }

    /// Removes a closed connection, keeping its traffic in the totals.
    pub fn unregister(&self, id: u64) {
        if let Some(c) = self.clients.lock().remove(&id) {
            let mut t = self.closed.lock();
            t.commands += c.commands.load(Ordering::Relaxed);
            t.net_in += c.net_in.load(Ordering::Relaxed);
            t.net_out += c.net_out.load(Ordering::Relaxed);
        }
    }

    /// Traffic since start (or the last reset), closed and live connections together.
    pub fn traffic(&self) -> Traffic {
        let mut t = *self.closed.lock();
        for c in self.clients.lock().values() {
            t.commands += c.commands.load(Ordering::Relaxed);
            t.net_in += c.net_in.load(Ordering::Relaxed);
            t.net_out += c.net_out.load(Ordering::Relaxed);
        }
        t
    }

    /// Zeroes the traffic counters (CONFIG RESETSTAT).
    pub fn reset_traffic(&self) {
        *self.closed.lock() = Traffic::default();
        for c in self.clients.lock().values() {
            c.commands.store(0, Ordering::Relaxed);
            c.net_in.store(0, Ordering::Relaxed);
            c.net_out.store(0, Ordering::Relaxed);
        }
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// True if no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every client, by id.
    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    /// The client with this id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }
}
