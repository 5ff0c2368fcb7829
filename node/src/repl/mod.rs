//! Replication (PSYNC2): the stream, the backlog, and both ends of a link.
//!
//! # The model
//! A master numbers every byte of its replication stream: `master_repl_offset` is the offset of
//! the last byte written, under a 40-hex replication id `replid`. The stream is the rewritten
//! write commands (see [`crate::cmd`], `Ctx::rewrite`) as RESP arrays, with a `SELECT` whenever
//! the database changes. The last `repl-backlog-size` bytes are kept in a [`backlog::Backlog`].
//!
//! A replica asks `PSYNC <replid> <offset+1>`. If the id matches (or matches `replid2`, the id
//! this node had before its last promotion, up to `second_repl_offset`) and the backlog still
//! holds that offset, the master answers `+CONTINUE` and sends the missing bytes: a partial
//! resync. Otherwise `+FULLRESYNC <replid> <offset>` and an RDB snapshot taken at exactly that
//! offset, then the stream from there.
//!
//! A replica applies the stream and proxies it byte for byte into its own backlog, keeping the
//! master's id and offsets, so that after a promotion (`REPLICAOF NO ONE`: the old id becomes
//! `replid2`) the other replicas continue with a partial resync. That is what makes a failover
//! cheap.
//!
//! # Locks
//! [`Repl`] sits behind one mutex in the server. Order: keyspace shards first, then `repl`; a
//! write appends to the stream while its shards are still locked, so the stream order agrees
//! with every key's history. When no replica has ever attached there is no backlog and writes
//! skip the stream entirely (one atomic load).
//!
//! What we deliberately do not do yet: the diskless-load variants a replica may choose (we
//! always read the whole payload, verify it, then swap it in), the soft output-buffer limit, the
//! FAILOVER command.

pub mod backlog;
pub mod master;
pub mod replica;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc::UnboundedSender;

use backlog::Backlog;

/// Forty zeros: an unset replication id.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// A new random 40-hex replication id.
pub fn new_replid() -> String {
    let mut b = [0u8; 20];
    rand::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where a replica of ours stands (`slaveN:...,state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Its snapshot is being produced.
    WaitBgsave,
    /// Its snapshot is being sent.
    SendBulk,
    /// Streaming.
    Online,
}

impl ReplicaState {
    /// The word INFO prints.
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// A replica connected to this node.
#[derive(Debug)]
pub struct ReplicaLink {
    /// Stream bytes for it, in order.
    pub tx: UnboundedSender<Bytes>,
    /// Its IP as we see it.
    pub ip: String,
    /// The port it listens on (REPLCONF listening-port).
    pub port: u16,
    /// Sync state.
    pub state: ReplicaState,
    /// Last offset it acknowledged.
    pub ack_offset: i64,
    /// When it last acknowledged.
    pub ack_time: Instant,
    /// Bytes queued for it and not yet written to its socket.
    pub pending: Arc<AtomicUsize>,
}

/// Most bytes queued for one replica before it is disconnected (Redis's hard limit of
/// `client-output-buffer-limit replica 256mb 64mb 60`). A replica that falls this far behind
/// reconnects and resyncs instead of exhausting the master's memory.
pub const REPLICA_BUFFER_LIMIT: usize = 256 * 1024 * 1024;

/// State of our link to a master, when we are a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected; will try.
    Connect,
    /// TCP connecting.
    Connecting,
    /// Handshake in progress.
    Handshake,
    /// Receiving the snapshot.
    Sync,
    /// Streaming.
    Connected,
}

impl LinkState {
    /// The word ROLE prints.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// Our master, when we are a replica.
#[derive(Debug, Clone)]
pub struct MasterInfo {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Link state.
    pub state: LinkState,
    /// When the link last carried a byte.
    pub last_io: Option<Instant>,
    /// When the link went down (None while up or if it never came up).
    pub down_since: Option<Instant>,
    /// Bytes of stream read from the master.
    pub read_offset: i64,
    /// A full sync is in progress.
    pub sync_in_progress: bool,
}

/// Counters of INFO stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    /// Full resyncs served.
    pub sync_full: u64,
    /// Partial resyncs accepted.
    pub sync_partial_ok: u64,
    /// Partial resyncs refused.
    pub sync_partial_err: u64,
}

/// Replication state of this node.
#[derive(Debug)]
pub struct Repl {
    /// Current replication id.
    pub replid: String,
    /// Previous id (before the last promotion), or forty zeros.
    pub replid2: String,
    /// Offset of the last stream byte (`master_repl_offset`).
    pub offset: i64,
    /// Last offset valid under `replid2`, plus one; -1 when unset.
    pub second_offset: i64,
    /// The backlog, once a replica has attached (or we are a replica).
    pub backlog: Option<Backlog>,
    /// `repl-backlog-size`.
    pub backlog_size: usize,
    /// Database of the last SELECT in the stream; `None` forces one before the next command.
    pub stream_db: Option<usize>,
    /// Our replicas, by client id.
    pub replicas: BTreeMap<u64, ReplicaLink>,
    /// Our master, if we are a replica.
    pub master: Option<MasterInfo>,
    /// INFO stats.
    pub stats: SyncStats,
    /// Most bytes queued per replica ([`REPLICA_BUFFER_LIMIT`]).
    pub buffer_limit: usize,
    /// No history worth continuing (a node started as a replica that never synced): ask for
    /// `PSYNC ? -1`, as Redis does, instead of offering its own random id.
    pub fresh: bool,
}

impl Repl {
    /// A master with no history.
    pub fn new(backlog_size: usize) -> Repl {
        Repl {
            replid: new_replid(),
            replid2: NO_REPLID.to_string(),
            offset: 0,
            second_offset: -1,
            backlog: None,
            backlog_size,
            stream_db: None,
            replicas: BTreeMap::new(),
            master: None,
            stats: SyncStats::default(),
            fresh: false,
            buffer_limit: REPLICA_BUFFER_LIMIT,
        }
    }

    /// Creates the backlog if there is none. A master's first backlog starts a new history:
    /// a new replid, and no replid2 (as Redis).
    pub fn ensure_backlog(&mut self) {
        if self.backlog.is_none() {
            if self.master.is_none() {
                self.replid = new_replid();
                self.replid2 = NO_REPLID.to_string();
                self.second_offset = -1;
            }
            self.backlog = Some(Backlog::new(self.backlog_size, self.offset + 1));
        }
    }

    /// Appends one command to the stream (with a SELECT first if the database changed):
    /// backlog, offset, and every replica's queue.
    pub fn feed(&mut self, db: usize, argv: &[Bytes]) {
        if self.backlog.is_none() {
            return;
        }
        let mut buf = BytesMut::new();
        if self.stream_db != Some(db) {
            let d = db.to_string();
            vigil_proto::frame::encode_request(&mut buf, &[&b"SELECT"[..], d.as_bytes()]);
            self.stream_db = Some(db);
        }
        vigil_proto::frame::encode_request(&mut buf, argv);
        self.feed_raw(buf.freeze());
    }

    /// Appends bytes that are already stream-encoded (a replica proxying its master's stream).
    pub fn feed_raw(&mut self, bytes: Bytes) {
        let Some(b) = self.backlog.as_mut() else { return };
        b.append(&bytes);
        self.offset += bytes.len() as i64;
        let mut overflowing = Vec::new();
        for (id, r) in &self.replicas {
            let queued = r.pending.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len();
            if queued > self.buffer_limit {
                overflowing.push(*id);
            } else {
                let _ = r.tx.send(bytes.clone());
            }
        }
        for id in overflowing {
            tracing::warn!(
                "disconnecting replica (client id {id}): more than {} bytes of stream queued",
                self.buffer_limit
            );
            self.replicas.remove(&id); // dropping its sender ends its link; it will resync
        }
    }

    /// Can a replica continue from `offset` (the first byte it lacks) of history `replid`?
    /// Returns the missing bytes if so.
    pub fn partial_from(&self, replid: &str, offset: i64) -> Option<Vec<u8>> {
        let known = replid == self.replid || (replid == self.replid2 && offset <= self.second_offset);
        if !known {
            return None;
        }
        self.backlog.as_ref()?.since(offset)
    }

    /// Promotion (`REPLICAOF NO ONE`): the current history becomes the previous one, valid up
    /// to this offset, and a new id starts. Replicas keep their backlog.
    pub fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, new_replid());
        self.second_offset = self.offset + 1;
        self.stream_db = None;
    }

    /// Online replicas with their IP, port and acknowledged offset.
    pub fn online(&self) -> impl Iterator<Item = &ReplicaLink> {
        self.replicas.values().filter(|r| r.state == ReplicaState::Online)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn stream_offsets_and_select() {
        let mut r = Repl::new(1 << 20);
        r.feed(0, &[b("SET"), b("k"), b("v")]);
        assert_eq!(r.offset, 0, "no backlog, no replicas: nothing is recorded");
        r.ensure_backlog();
        r.feed(0, &[b("SET"), b("k"), b("v")]);
        // SELECT 0 is 23 bytes, SET k v is 27.
        assert_eq!(r.offset, 23 + 27);
        r.feed(0, &[b("DEL"), b("k")]);
        assert_eq!(r.offset, 23 + 27 + 20, "no second SELECT for the same db");
        let tail = r.partial_from(&r.replid.clone(), 23 + 27 + 1).expect("held");
        assert_eq!(tail, b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n");
    }

    #[test]
    fn a_replica_that_falls_too_far_behind_is_dropped() {
        let mut r = Repl::new(1 << 20);
        r.ensure_backlog();
        r.buffer_limit = 100;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let link = ReplicaLink {
            tx,
            ip: "127.0.0.1".into(),
            port: 1,
            state: ReplicaState::Online,
            ack_offset: 0,
            ack_time: Instant::now(),
            pending: Arc::default(),
        };
        r.replicas.insert(7, link);
        r.feed(0, &[b("SET"), b("k"), b("v")]); // 50 bytes queued
        assert!(r.replicas.contains_key(&7));
        r.feed(0, &[b("SET"), b("k"), b("a-longer-value-that-overflows-the-queue")]);
        assert!(!r.replicas.contains_key(&7), "dropped once more than the limit is queued");
        assert!(rx.try_recv().is_ok(), "what fit was delivered");
        assert!(rx.try_recv().is_err(), "then the link is closed");
    }

    #[test]
    fn promotion_keeps_the_old_history_valid_up_to_its_offset() {
        let mut r = Repl::new(1 << 20);
        r.ensure_backlog();
        r.feed(0, &[b("SET"), b("k"), b("v")]);
        let old = r.replid.clone();
        let at = r.offset + 1;
        r.shift_replid();
        assert_eq!(r.replid2, old);
        assert_eq!(r.second_offset, at);
        assert!(r.partial_from(&old, at).is_some(), "a replica of the old master continues");
        r.feed(0, &[b("SET"), b("k"), b("w")]);
        assert!(r.partial_from(&old, at + 1).is_none(), "not past the promotion point");
        assert!(r.partial_from("x", at).is_none());
    }
}
