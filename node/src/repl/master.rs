//! The master's end of a replication link: answer PSYNC/SYNC, send the snapshot or the missing
//! backlog, then stream, and record the replica's acknowledgements.
//!
//! A full sync takes its snapshot at one instant, the offset announced in `+FULLRESYNC`: every
//! shard is locked only long enough to mark that point, then the shards are serialised one by
//! one while clients keep writing (copy on write, see [`snapshot`]). Stream bytes produced
//! meanwhile queue for the replica and follow the snapshot.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use vigil_proto::{Limits, RequestParser};

use super::{ReplicaLink, ReplicaState};
use crate::clients::ClientKind;
use crate::server::{Server, unix_ms};
use crate::session::Session;

/// What a replica asked for.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The history it continues (`?` for none).
    pub replid: String,
    /// The first offset it lacks.
    pub offset: i64,
    /// PSYNC (true) or the old SYNC (false: no `+FULLRESYNC` line, never partial).
    pub psync: bool,
}

/// Takes a snapshot of the whole keyspace at one instant and serialises it as an RDB payload,
/// without stopping the server for the serialisation.
///
/// Every shard is locked only for the instant it takes to mark the snapshot point (and to note
/// the replication offset and register the replica, so snapshot and stream meet at exactly
/// that offset). Then the shards are serialised one at a time, each under its own lock; writes
/// that reach a shard before its turn keep the snapshot-time state of what they change (copy on
/// write, see [`crate::db::Db::begin_snapshot`]).
pub async fn snapshot(srv: &Server, replid_and_offset: impl FnOnce() -> (String, i64)) -> (Vec<u8>, String, i64, u64) {
    let _one_at_a_time = srv.snapshot_gate.lock().await;
    let began = Instant::now();
    let (sizes, replid, offset) = {
        let mut l = srv.keyspace.lock_all();
        let mut sizes = Vec::with_capacity(crate::db::SHARDS);
        for s in l.all() {
            sizes.push(s.dbs.iter().map(|d| (d.len(), d.expires_len())).collect::<Vec<_>>());
            for d in s.dbs.iter_mut() {
                d.begin_snapshot();
            }
        }
        let (replid, offset) = replid_and_offset();
        (sizes, replid, offset)
    };
    let paused_us = began.elapsed().as_micros() as u64;
    let now = unix_ms();
    let mut w = crate::rdb::Writer::new(Vec::new()).expect("writing to memory cannot fail");
    let mut aux = |k: &str, v: &str| w.aux(k, v.as_bytes()).expect("memory");
    aux("redis-ver", crate::cmd::connection::REDIS_VERSION);
    aux("redis-bits", "64");
    aux("ctime", &(now / 1000).to_string());
    aux("repl-stream-db", "0");
    aux("repl-id", &replid);
    aux("repl-offset", &offset.to_string());
    aux("aof-base", "0");
    for (i, shard_sizes) in sizes.iter().enumerate() {
        {
            let mut shard = srv.keyspace.lock_shard(i);
            for (db, &(size, expires)) in shard_sizes.iter().enumerate() {
                if size > 0 {
                    // One SELECTDB per shard part: loaders accept a database in several blocks.
                    w.select_db(db, size, expires).expect("memory");
                }
                shard.dbs[db].snapshot_entries(|key, value, ttl| {
                    if ttl.is_some_and(|t| t <= now) {
                        return; // already expired: the replica would only hide it
                    }
                    let crate::db::Value::Str(v) = value;
                    w.string_entry(key, v, ttl).expect("memory");
                });
            }
        }
        tokio::task::yield_now().await;
    }
    (w.finish().expect("memory").0, replid, offset, paused_us)
}

enum Start {
    Partial { replid: String, missing: Vec<u8> },
    Full { replid: String, offset: i64, payload: Vec<u8> },
}

/// Serves a connection that sent PSYNC or SYNC, until it closes. Returns why it ended.
pub async fn serve_replica(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    srv: &Arc<Server>,
    session: &Session,
    req: SyncRequest,
) -> String {
    let id = session.info.id;
    session.info.set_kind(ClientKind::Replica);
    let ip = session.replica_ip.clone().unwrap_or_else(|| session.info.addr.ip().to_string());
    let port = if session.replica_port > 0 { session.replica_port } else { session.info.addr.port() };
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let link = |state| ReplicaLink {
        tx: tx.clone(),
        ip: ip.clone(),
        port,
        state,
        ack_offset: 0,
        ack_time: Instant::now(),
        pending: pending.clone(),
    };

    let partial = {
        let mut repl = srv.repl.lock();
        match (req.psync && req.replid != "?").then(|| repl.partial_from(&req.replid, req.offset)).flatten() {
            Some(missing) => {
                repl.replicas.insert(id, link(ReplicaState::Online));
                repl.stats.sync_partial_ok += 1;
                Some(Start::Partial { replid: repl.replid.clone(), missing })
            }
            None => {
                if req.psync && req.replid != "?" {
                    repl.stats.sync_partial_err += 1;
                }
                None
            }
        }
    };
    let start = match partial {
        Some(p) => p,
        None => {
            let began = Instant::now();
            let (payload, replid, offset, paused_us) = snapshot(srv, || {
                let mut repl = srv.repl.lock();
                repl.ensure_backlog();
                srv.set_feeding(repl.master.is_none());
                repl.stream_db = None; // the stream after a snapshot starts with a SELECT
                repl.replicas.insert(id, link(ReplicaState::WaitBgsave));
                repl.stats.sync_full += 1;
                (repl.replid.clone(), repl.offset)
            })
            .await;
            tracing::info!(
                replica = %format!("{ip}:{port}"),
                bytes = payload.len(),
                ms = began.elapsed().as_millis() as u64,
                paused_us,
                "full resync: snapshot taken at offset {offset}"
            );
            Start::Full { replid, offset, payload }
        }
    };

    let sent = match start {
        Start::Partial { replid, missing } => {
            tracing::info!(replica = %format!("{ip}:{port}"), bytes = missing.len(), "partial resync accepted from offset {}", req.offset);
            let mut out = format!("+CONTINUE {replid}\r\n").into_bytes();
            out.extend_from_slice(&missing);
            stream.write_all(&out).await
        }
        Start::Full { replid, offset, payload } => {
            if let Some(r) = srv.repl.lock().replicas.get_mut(&id) {
                r.state = ReplicaState::SendBulk;
            }
            let mut head = Vec::new();
            if req.psync {
                head.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
            }
            head.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
            let r = async {
                stream.write_all(&head).await?;
                stream.write_all(&payload).await
            }
            .await;
            if let Some(link) = srv.repl.lock().replicas.get_mut(&id) {
                link.state = ReplicaState::Online;
                link.ack_time = Instant::now();
            }
            r
        }
    };
    let reason = match sent {
        Err(e) => format!("write error during sync: {e}"),
        Ok(()) => stream_to(stream, rbuf, srv, session, &mut rx, &pending).await,
    };
    srv.repl.lock().replicas.remove(&id);
    reason
}

async fn stream_to(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    srv: &Arc<Server>,
    session: &Session,
    rx: &mut mpsc::UnboundedReceiver<Bytes>,
    pending: &std::sync::atomic::AtomicUsize,
) -> String {
    let id = session.info.id;
    let mut parser = RequestParser::new();
    let mut args = Vec::new();
    let mut out = BytesMut::new();
    let killed = session.info.kill.cancelled();
    let shutdown = srv.shutdown.cancelled();
    tokio::pin!(killed, shutdown);
    loop {
        tokio::select! {
            chunk = rx.recv() => {
                let Some(chunk) = chunk else { return "stream closed".into() };
                out.extend_from_slice(&chunk);
                while let Ok(more) = rx.try_recv() {
                    out.extend_from_slice(&more);
                }
                if let Err(e) = stream.write_all(&out).await {
                    return format!("write error: {e}");
                }
                pending.fetch_sub(out.len(), std::sync::atomic::Ordering::Relaxed);
                out.clear();
            }
            r = stream.read_buf(rbuf) => {
                match r {
                    Ok(0) => return "replica closed the link".into(),
                    Err(e) => return format!("read error: {e}"),
                    Ok(_) => {}
                }
                let limits = Limits { max_bulk_len: 1 << 20, unauthenticated: false };
                while let Ok(true) = parser.parse(rbuf, limits, &mut args) {
                    // Only REPLCONF ACK matters; replicas also send bare newlines while loading.
                    if args.len() >= 3 && args[0].eq_ignore_ascii_case(b"REPLCONF") && args[1].eq_ignore_ascii_case(b"ACK") {
                        let off = vigil_proto::request::parse_i64(&args[2]).unwrap_or(0);
                        if let Some(link) = srv.repl.lock().replicas.get_mut(&id) {
                            link.ack_offset = off;
                            link.ack_time = Instant::now();
                        }
                        srv.acks.notify_waiters();
                    }
                }
            }
            _ = &mut killed => return "killed".into(),
            _ = &mut shutdown => return "server shutdown".into(),
        }
    }
}

/// Waits (for WAIT) until `want.replicas` replicas acknowledged `want.offset`, the deadline
/// passes, or the client or server goes away. Asks the replicas for an ACK at once
/// (`REPLCONF GETACK *` through the stream) instead of waiting for their next periodic one.
pub async fn wait_for_acks(
    srv: &Server,
    want: crate::session::WaitFor,
    kill: &tokio_util::sync::CancellationToken,
) -> i64 {
    let count = |srv: &Server| srv.repl.lock().replicas.values().filter(|r| r.ack_offset >= want.offset).count();
    {
        let mut out = BytesMut::new();
        vigil_proto::frame::encode_request(&mut out, &["REPLCONF", "GETACK", "*"]);
        srv.repl.lock().feed_raw(out.freeze());
    }
    loop {
        // Register for the next ACK before checking, so none is missed in between.
        let notified = srv.acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = count(srv);
        if n >= want.replicas {
            return n as i64;
        }
        let until = want.deadline.map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = &mut notified => {}
            _ = async { match until { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                return count(srv) as i64;
            }
            _ = kill.cancelled() => return count(srv) as i64,
            _ = srv.shutdown.cancelled() => return count(srv) as i64,
        }
    }
}
