//! One client connection: socket bytes in, commands run, reply bytes out.
//!
//! The loop reads what the socket has, parses and runs *every* complete command in the buffer,
//! encodes all their replies into one output buffer and writes it with one syscall, so a
//! pipeline of N commands costs one read and one write. Buffers and the argument vector are
//! reused from one batch to the next. Pub/sub messages queued for this client are written as
//! they arrive. The task ends on QUIT, a protocol error (after the error reply, as Redis),
//! CLIENT KILL, the idle timeout, the peer closing, or server shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use vigil_proto::{Limits, RequestParser};

use crate::cmd::{self, Ctx};
use crate::pubsub::Message;
use crate::reply::Reply;
use crate::server::{Server, unix_ms};
use crate::session::Session;

const READ_CHUNK: usize = 16 * 1024;

/// Cached settings, refreshed when the configuration epoch changes.
struct Settings {
    epoch: u64,
    max_bulk: i64,
    query_limit: usize,
    timeout: u64,
    requirepass: bool,
}

impl Settings {
    fn load(srv: &Server) -> Settings {
        let epoch = srv.config_epoch.load(Ordering::Acquire);
        let c = srv.config.read();
        Settings {
            epoch,
            max_bulk: c.proto_max_bulk_len,
            query_limit: c.client_query_buffer_limit,
            timeout: c.timeout,
            requirepass: !c.requirepass.is_empty(),
        }
    }
}

/// Registers an accepted connection (in accept order, so client ids increase as in Redis) and
/// returns the task that serves it (or, past `maxclients`, refuses it with an error).
pub fn accept(stream: TcpStream, addr: SocketAddr, srv: Arc<Server>) -> impl std::future::Future<Output = ()> + Send {
    let _ = stream.set_nodelay(true);
    let laddr = stream.local_addr().unwrap_or(addr);
    let fd = {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd() as i64
    };
    let maxclients = srv.config.read().maxclients;
    let info = (srv.clients.len() < maxclients).then(|| srv.clients.register(addr, laddr, fd));
    async move {
        match info {
            Some(info) => serve(stream, info, srv).await,
            None => {
                srv.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
                let mut stream = stream;
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
            }
        }
    }
}

/// Serves one registered connection until it closes.
async fn serve(mut stream: TcpStream, info: Arc<crate::clients::ClientInfo>, srv: Arc<Server>) {
    let addr = info.addr;
    let mut settings = Settings::load(&srv);
    let mut session = Session::new(info.clone(), !settings.requirepass);
    tracing::debug!(id = info.id, %addr, "client connected");

    // Buffers start small: an idle connection costs little (10,000 of them are routine).
    let mut rbuf = BytesMut::with_capacity(1024);
    let mut wbuf = BytesMut::new();
    let mut parser = RequestParser::new();
    let mut args: Vec<Bytes> = Vec::with_capacity(8);
    // Created once: a cancellation future registers with its token when first polled, and
    // re-creating it every batch would take the token's lock each time (the shutdown token is
    // shared by every connection).
    let killed = info.kill.cancelled();
    let shutdown = srv.shutdown.cancelled();
    tokio::pin!(killed, shutdown);
    let reason = loop {
        wait_if_frozen(&srv).await;
        // Run every complete command already buffered.
        let mut commands = 0u64;
        let mut errors = 0u64;
        let mut now_ms = 0;
        loop {
            if srv.config_epoch.load(Ordering::Acquire) != settings.epoch {
                settings = Settings::load(&srv);
            }
            let limits = Limits { max_bulk_len: settings.max_bulk, unauthenticated: !session.authenticated };
            match parser.parse(&mut rbuf, limits, &mut args) {
                Ok(true) => {
                    // One clock read per 32 commands of a batch: commands of one batch run
                    // within microseconds of each other.
                    if commands.is_multiple_of(32) {
                        now_ms = unix_ms();
                    }
                    let mut ctx = Ctx::new(&srv, &mut session, now_ms);
                    let reply = cmd::execute(&mut ctx, &args);
                    args.clear();
                    commands += 1;
                    if reply.is_error() {
                        errors += 1;
                    }
                    reply.encode(session.resp, &mut wbuf);
                    if session.close || session.wait.is_some() || session.postponed.is_some() {
                        break;
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    tracing::debug!(id = info.id, "protocol error: {e}");
                    wbuf.extend_from_slice(b"-ERR ");
                    wbuf.extend_from_slice(e.to_string().as_bytes());
                    wbuf.extend_from_slice(b"\r\n");
                    session.close = true;
                    errors += 1;
                    break;
                }
            }
        }
        if commands > 0 {
            info.commands.fetch_add(commands, Ordering::Relaxed);
            info.last_ms.store(info.created.elapsed().as_millis() as u64, Ordering::Relaxed);
            info.last_cmd.store(cmd::spec_id(session.last_cmd), Ordering::Relaxed);
        }
        if errors > 0 {
            srv.stats.error_replies.fetch_add(errors, Ordering::Relaxed);
        }
        // Messages that arrived meanwhile go out with the replies.
        drain_messages(&mut session, &mut wbuf);
        if !wbuf.is_empty() {
            wait_if_frozen(&srv).await;
            info.net_out.fetch_add(wbuf.len() as u64, Ordering::Relaxed);
            if let Err(e) = stream.write_all(&wbuf).await {
                break format!("write error: {e}");
            }
            wbuf.clear();
            if wbuf.capacity() > 1 << 20 {
                wbuf = BytesMut::new(); // give back the memory of one huge reply
            }
        }
        if session.close {
            break "closed by command or protocol error".to_string();
        }
        if let Some(args) = session.postponed.take() {
            // CLIENT PAUSE holds this command back; run it when the pause ends.
            let reply = loop {
                let notified = srv.unpaused.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let mut ctx = Ctx::new(&srv, &mut session, unix_ms());
                let reply = cmd::execute(&mut ctx, &args);
                if session.postponed.take().is_none() {
                    break reply;
                }
                let wait = srv.paused_until(true, unix_ms()).map_or(0, |u| (u - unix_ms()).max(1) as u64);
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = info.kill.cancelled() => break Reply::None,
                    _ = srv.shutdown.cancelled() => break Reply::None,
                }
            };
            reply.encode(session.resp, &mut wbuf);
            continue;
        }
        if let Some(want) = session.wait.take() {
            // WAIT blocks this client only; the commands after it run once it is answered.
            let n = crate::repl::master::wait_for_acks(&srv, want, &info.kill).await;
            crate::reply::Reply::Int(n).encode(session.resp, &mut wbuf);
            continue;
        }
        if let Some(req) = session.psync.take() {
            // From here on this connection is a replication link.
            break crate::repl::master::serve_replica(&mut stream, &mut rbuf, &srv, &session, req).await;
        }
        if rbuf.len() > settings.query_limit {
            tracing::warn!(id = info.id, "closing client that reached the query buffer limit ({} bytes)", rbuf.len());
            break "query buffer limit".to_string();
        }
        info.qbuf.store(rbuf.len(), Ordering::Relaxed);
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK.max(parser.wanted().min(1 << 20)));
        }
        // Redis never times out subscribers (or, later, replicas).
        let idle_check = settings.timeout > 0 && session.subscriptions() == 0;
        tokio::select! {
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) => break "peer closed".to_string(),
                Ok(n) => { info.net_in.fetch_add(n as u64, Ordering::Relaxed); }
                Err(e) => break format!("read error: {e}"),
            },
            Some(m) = recv_message(&mut session.inbox) => {
                if let Some(mb) = &session.mailbox {
                    mb.pending.fetch_sub(m.size(), Ordering::Relaxed);
                }
                encode_message(&m, &session, &mut wbuf);
            }
            _ = &mut killed => break "killed".to_string(),
            _ = &mut shutdown => break "server shutdown".to_string(),
            // Built only when enabled: constructing a timer reads the clock.
            _ = async { tokio::time::sleep(Duration::from_secs(settings.timeout)).await }, if idle_check => {
                break "idle timeout".to_string()
            }
        }
    };
    tracing::debug!(id = info.id, "client closed: {reason}");
    cleanup(&srv, &mut session);
}

/// Waits while DEBUG SLEEP has frozen the server.
async fn wait_if_frozen(srv: &Server) {
    loop {
        let until = srv.frozen_until.load(Ordering::Acquire);
        let now = unix_ms();
        if until <= now {
            return;
        }
        tokio::time::sleep(Duration::from_millis((until - now) as u64)).await;
    }
}

/// The next queued pub/sub message; never ready for a client that never subscribed.
async fn recv_message(inbox: &mut Option<mpsc::UnboundedReceiver<Message>>) -> Option<Message> {
    match inbox {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn drain_messages(s: &mut Session, out: &mut BytesMut) {
    let Some(rx) = s.inbox.as_mut() else { return };
    let mut drained = Vec::new();
    while let Ok(m) = rx.try_recv() {
        drained.push(m);
    }
    for m in drained {
        if let Some(mb) = &s.mailbox {
            mb.pending.fetch_sub(m.size(), Ordering::Relaxed);
        }
        encode_message(&m, s, out);
    }
}

fn encode_message(m: &Message, s: &Session, out: &mut BytesMut) {
    let reply = match m {
        Message::Message { channel, payload } => {
            if !s.channels.contains(channel) {
                return; // unsubscribed while the message was queued
            }
            Reply::Push(vec![
                Reply::bulk_static(b"message"),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ])
        }
        Message::PMessage { pattern, channel, payload } => {
            if !s.patterns.contains(pattern) {
                return;
            }
            Reply::Push(vec![
                Reply::bulk_static(b"pmessage"),
                Reply::Bulk(pattern.clone()),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ])
        }
    };
    reply.encode(s.resp, out);
}

/// Releases everything a closed connection held: subscriptions, watches, its registry entry.
fn cleanup(srv: &Server, s: &mut Session) {
    let id = s.info.id;
    for c in s.channels.drain() {
        srv.pubsub.unsubscribe(false, &c, id);
    }
    for p in s.patterns.drain() {
        srv.pubsub.unsubscribe(true, &p, id);
    }
    s.unwatch_all(&srv.keyspace, None);
    srv.clients.unregister(id);
}
