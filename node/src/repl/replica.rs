//! The replica's end: connect to the master, handshake, sync, apply the stream, acknowledge.
//!
//! One background task watches `server.replicaof`. While it names a master, the task keeps a
//! link up: on any failure it marks the link down and tries again after a second, asking for a
//! partial resync from where it stopped (`PSYNC <replid> <offset+1>`). A full sync's payload is
//! read and its checksum verified completely before the old data is replaced, so a link cut in
//! the middle of a transfer never leaves a half-loaded dataset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_proto::{Limits, RequestParser};

use super::backlog::Backlog;
use super::{LinkState, NO_REPLID};
use crate::clients::ClientKind;
use crate::cmd::{self, Ctx};
use crate::db::{Str, Value};
use crate::rdb::{self, Item};
use crate::server::{Server, unix_ms};
use crate::session::Session;

/// Errors that end one attempt (the driver logs them and retries).
type LinkResult<T> = Result<T, String>;

/// Runs for the life of the server, following `server.replicaof`.
pub async fn run(srv: Arc<Server>) {
    let mut target = srv.replicaof.subscribe();
    loop {
        let current = target.borrow_and_update().clone();
        match current {
            None => {
                tokio::select! {
                    r = target.changed() => if r.is_err() { return },
                    _ = srv.shutdown.cancelled() => return,
                }
            }
            Some((host, port)) => {
                tokio::select! {
                    _ = keep_linked(&srv, &host, port) => {}
                    r = target.changed() => if r.is_err() { return },
                    _ = srv.shutdown.cancelled() => return,
                }
            }
        }
    }
}

fn set_state(srv: &Server, state: LinkState) {
    update_state(srv, state);
    srv.refresh_cached_settings();
}

fn update_state(srv: &Server, state: LinkState) {
    if let Some(m) = srv.repl.lock().master.as_mut() {
        if state == LinkState::Connected {
            m.down_since = None;
        } else if m.state == LinkState::Connected || m.down_since.is_none() {
            m.down_since.get_or_insert_with(Instant::now);
        }
        m.state = state;
        m.sync_in_progress = state == LinkState::Sync;
    }
}

async fn keep_linked(srv: &Arc<Server>, host: &str, port: u16) {
    loop {
        let started = Instant::now();
        let err = link_once(srv, host, port).await.err().unwrap_or_else(|| "link closed".into());
        tracing::warn!(master = %format!("{host}:{port}"), "replication link down: {err}");
        set_state(srv, LinkState::Connect);
        // Retry at once after a long healthy link, otherwise after a second.
        if started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A buffered reader of the master's replies.
struct Link {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Link {
    async fn fill(&mut self) -> LinkResult<()> {
        let n = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| "timeout reading from master".to_string())?
            .map_err(|e| format!("read error: {e}"))?;
        if n == 0 {
            return Err("master closed the connection".into());
        }
        Ok(())
    }

    /// One reply line without its CRLF, skipping the bare newlines a master sends as keepalive.
    async fn line(&mut self) -> LinkResult<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line[..i]).trim_end_matches('\r').to_string();
                if text.is_empty() {
                    continue;
                }
                return Ok(text);
            }
            if self.buf.len() > 64 * 1024 {
                return Err("reply line too long".into());
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, args: &[&str]) -> LinkResult<()> {
        let mut out = BytesMut::new();
        vigil_proto::frame::encode_request(&mut out, args);
        self.stream.write_all(&out).await.map_err(|e| format!("write error: {e}"))
    }

    async fn exact(&mut self, n: usize) -> LinkResult<Bytes> {
        while self.buf.len() < n {
            self.buf.reserve(n - self.buf.len());
            self.fill().await?;
        }
        Ok(self.buf.split_to(n).freeze())
    }

    /// The snapshot payload: `$<len>` then that many bytes, or `$EOF:<mark>` ... `<mark>`.
    async fn payload(&mut self) -> LinkResult<Bytes> {
        let header = self.line().await?;
        let Some(spec) = header.strip_prefix('$') else { return Err(format!("expected a payload, got '{header}'")) };
        if let Some(mark) = spec.strip_prefix("EOF:") {
            let mark = mark.as_bytes().to_vec();
            if mark.len() != 40 {
                return Err("bad EOF mark".into());
            }
            loop {
                if self.buf.len() >= 40 && self.buf[self.buf.len() - 40..] == mark[..] {
                    let mut all = self.buf.split().freeze();
                    all.truncate(all.len() - 40);
                    return Ok(all);
                }
                self.fill().await?;
            }
        }
        let len: usize = spec.parse().map_err(|_| format!("bad payload length '{spec}'"))?;
        self.exact(len).await
    }
}

/// Connects to the master, from `source` when set (Redis's `bind-source-addr`: the local address
/// of outgoing connections; empty leaves the choice to the system).
async fn connect_from(source: &str, host: &str, port: u16) -> std::io::Result<TcpStream> {
    let ip = match source {
        "" => None,
        s => Some(s.parse::<std::net::IpAddr>().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bind-source-addr '{s}' is not an IP address"),
            )
        })?),
    };
    vigil_proto::client::connect_tcp((host, port), ip).await
}

async fn link_once(srv: &Arc<Server>, host: &str, port: u16) -> LinkResult<()> {
    set_state(srv, LinkState::Connecting);
    let (auth, user, announce_ip, announce_port, timeout, source) = {
        let c = srv.config.read();
        let p = c.int("replica-announce-port");
        (
            c.text("masterauth"),
            c.text("masteruser"),
            c.text("replica-announce-ip"),
            if p > 0 { p as u16 } else { srv.port },
            c.int("repl-timeout").max(1) as u64,
            c.text("bind-source-addr"),
        )
    };
    let timeout = Duration::from_secs(timeout);
    let stream = tokio::time::timeout(Duration::from_secs(5), connect_from(&source, host, port))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| format!("connect error: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut link = Link { stream, buf: BytesMut::with_capacity(16 * 1024), timeout };
    set_state(srv, LinkState::Handshake);

    link.send(&["PING"]).await?;
    let pong = link.line().await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("master answered PING with {pong}"));
    }
    if !auth.is_empty() {
        if user.is_empty() {
            link.send(&["AUTH", &auth]).await?;
        } else {
            link.send(&["AUTH", &user, &auth]).await?;
        }
        let r = link.line().await?;
        if r.starts_with('-') {
            return Err(format!("master refused AUTH: {r}"));
        }
    }
    link.send(&["REPLCONF", "listening-port", &announce_port.to_string()]).await?;
    let mut replies = 2;
    if !announce_ip.is_empty() {
        link.send(&["REPLCONF", "ip-address", &announce_ip]).await?;
        replies += 1;
    }
    link.send(&["REPLCONF", "capa", "eof", "capa", "psync2"]).await?;
    for _ in 0..replies {
        let r = link.line().await?;
        if r.starts_with('-') {
            tracing::info!("master answered REPLCONF with {r} (not critical)");
        }
    }
    // Ask to continue our own history: our master's, or the one we had as a master.
    let (replid, next) = {
        let r = srv.repl.lock();
        if r.fresh { ("?".to_string(), "-1".to_string()) } else { (r.replid.clone(), (r.offset + 1).to_string()) }
    };
    link.send(&["PSYNC", &replid, &next]).await?;
    let answer = link.line().await?;
    let mut words = answer.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let id = words.next().unwrap_or(NO_REPLID).to_string();
            let off: i64 = words.next().and_then(|o| o.parse().ok()).ok_or("bad +FULLRESYNC offset")?;
            set_state(srv, LinkState::Sync);
            let began = Instant::now();
            let payload = link.payload().await?;
            let keys = load_snapshot(srv, &payload, &id, off)?;
            tracing::info!(
                keys,
                bytes = payload.len(),
                ms = began.elapsed().as_millis() as u64,
                "full resync from master done, offset {off}"
            );
            link.send(&["REPLCONF", "ACK", &off.to_string()]).await?;
        }
        Some("+CONTINUE") => {
            let mut repl = srv.repl.lock();
            if let Some(new_id) = words.next()
                && new_id != repl.replid
            {
                repl.replid2 = std::mem::replace(&mut repl.replid, new_id.to_string());
                repl.second_offset = repl.offset + 1;
            }
            let next = repl.offset + 1;
            let size = repl.backlog_size;
            repl.backlog.get_or_insert_with(|| Backlog::new(size, next));
            tracing::info!("partial resync with master accepted from offset {next}");
        }
        _ => return Err(format!("master answered PSYNC with '{answer}'")),
    }
    set_state(srv, LinkState::Connected);
    apply_stream(srv, &mut link).await
}

/// Replaces the whole dataset with the snapshot, once it has been read and verified.
fn load_snapshot(srv: &Server, payload: &[u8], replid: &str, offset: i64) -> LinkResult<usize> {
    let mut items = Vec::new();
    rdb::read(payload, |i| items.push(i)).map_err(|e| format!("snapshot refused: {e}"))?;
    let mut l = srv.keyspace.lock_all();
    for s in l.all() {
        for db in s.dbs.iter_mut() {
            db.flush();
            db.take_expired();
        }
    }
    let mut db = 0usize;
    let mut keys = 0;
    let databases = srv.keyspace.databases();
    for item in items {
        match item {
            Item::Aux(..) => {}
            Item::SelectDb(n) if n < databases => db = n,
            Item::SelectDb(n) => return Err(format!("snapshot uses database {n}, we have {databases}")),
            Item::String { key, value, expire_ms } => {
                l.db(db, &key).0.load(&key, Value::Str(Str::new(&value)), expire_ms);
                keys += 1;
            }
        }
    }
    let mut repl = srv.repl.lock();
    // Our own replicas followed the old history: drop them so they resync with the new one.
    repl.replicas.clear();
    repl.fresh = false;
    repl.replid = replid.to_string();
    repl.replid2 = NO_REPLID.to_string();
    repl.second_offset = -1;
    repl.offset = offset;
    repl.backlog = Some(Backlog::new(repl.backlog_size, offset + 1));
    if let Some(m) = repl.master.as_mut() {
        m.read_offset = offset;
    }
    Ok(keys)
}

/// Applies the master's stream: every command runs through the dispatcher as the master
/// client (never answered), and its bytes extend our backlog under the master's offsets.
async fn apply_stream(srv: &Arc<Server>, link: &mut Link) -> LinkResult<()> {
    let info = srv.clients.register(
        link.stream.peer_addr().map_err(|e| e.to_string())?,
        link.stream.local_addr().map_err(|e| e.to_string())?,
        -1,
    );
    info.set_kind(ClientKind::Master);
    let mut session = Session::new(info.clone(), true);
    session.is_master_link = true;
    let result = apply_loop(srv, link, &mut session).await;
    srv.clients.unregister(info.id);
    result
}

async fn apply_loop(srv: &Arc<Server>, link: &mut Link, session: &mut Session) -> LinkResult<()> {
    let mut parser = RequestParser::new();
    let mut args: Vec<Bytes> = Vec::new();
    let limits = Limits { max_bulk_len: i64::MAX, unauthenticated: false };
    let mut ack = tokio::time::interval(Duration::from_secs(1));
    let kill = session.info.kill.clone();
    // Bytes of the command being parsed that the parser already took off the buffer: it keeps
    // its place across reads, so a command split over several reads is consumed piecewise.
    let mut partial = 0usize;
    // Stream bytes applied since the last flush into our backlog.
    let mut batch = BytesMut::new();
    let mut batch_consumed = 0i64;
    let mut canonical = true;
    loop {
        // Apply every whole command buffered.
        loop {
            if partial == 0 {
                if link.buf.first() == Some(&b'\n') {
                    link.buf.advance(1); // keepalive, not part of the stream
                    continue;
                }
                if link.buf.first().is_some_and(|&c| c != b'*') {
                    return Err("master sent an inline command: protocol desync".into());
                }
            }
            let before = link.buf.len();
            let parsed = parser.parse(&mut link.buf, limits, &mut args).map_err(|e| format!("from master: {e}"))?;
            partial += before - link.buf.len();
            if !parsed {
                break;
            }
            let consumed = std::mem::take(&mut partial);
            // Re-encode into the batch for our backlog: the master's canonical encoding gives
            // the same bytes, which keeps offsets aligned with the master's.
            let start = batch.len();
            vigil_proto::frame::encode_request(&mut batch, &args);
            if batch.len() - start != consumed {
                canonical = false;
            }
            batch_consumed += consumed as i64;
            if args.len() >= 2 && args[0].eq_ignore_ascii_case(b"REPLCONF") && args[1].eq_ignore_ascii_case(b"GETACK") {
                // The ACK must count everything up to and including this GETACK.
                let off = flush_batch(srv, &mut batch, &mut batch_consumed, &mut canonical);
                link.send(&["REPLCONF", "ACK", &off.to_string()]).await?;
                continue;
            }
            let mut ctx = Ctx::new(srv, session, unix_ms());
            let _ = cmd::execute(&mut ctx, &args);
        }
        // One lock per batch of commands, not one per command.
        flush_batch(srv, &mut batch, &mut batch_consumed, &mut canonical);
        tokio::select! {
            r = link.stream.read_buf(&mut link.buf) => match r {
                Ok(0) => return Err("master closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read error: {e}")),
            },
            _ = kill.cancelled() => return Err("link killed (CLIENT KILL)".into()),
            _ = ack.tick() => {
                let (off, silent) = {
                    let r = srv.repl.lock();
                    let silent = r.master.as_ref().and_then(|m| m.last_io).map(|t| t.elapsed());
                    (r.offset, silent)
                };
                if silent.is_some_and(|s| s > link.timeout) {
                    return Err("no data from master within repl-timeout".into());
                }
                link.send(&["REPLCONF", "ACK", &off.to_string()]).await?;
            }
        }
    }
}

/// Appends the applied stream bytes to our backlog and offset (forwarding them to our own
/// replicas); returns the new offset.
fn flush_batch(srv: &Server, batch: &mut BytesMut, consumed: &mut i64, canonical: &mut bool) -> i64 {
    let mut repl = srv.repl.lock();
    if *consumed > 0 {
        if *canonical {
            repl.feed_raw(batch.split().freeze());
        } else {
            // Not the canonical encoding: keep offsets right, restart the backlog.
            repl.offset += *consumed;
            let (size, next) = (repl.backlog_size, repl.offset + 1);
            repl.backlog = Some(Backlog::new(size, next));
            batch.clear();
        }
        if let Some(m) = repl.master.as_mut() {
            m.read_offset += *consumed;
            m.last_io = Some(Instant::now());
        }
    }
    *consumed = 0;
    *canonical = true;
    repl.offset
}
