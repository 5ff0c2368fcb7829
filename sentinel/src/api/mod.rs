//! The client-facing API: RESP on the sentinel port, answering as Redis Sentinel does.
//!
//! [`serve`] runs one connection: it parses requests, answers the connection-level commands
//! itself (PING, QUIT, AUTH, HELLO, CLIENT, COMMAND, SUBSCRIBE and friends, PUBLISH, SHUTDOWN)
//! and sends the rest (ROLE, INFO, SENTINEL ...) to the core task, which owns the monitors, so a
//! reply always reflects one consistent state ([`sentinel::answer`]). Events reach
//! SUBSCRIBE/PSUBSCRIBE clients from the core's broadcast feed. After `HELLO 3` replies are
//! RESP3 (maps, push messages); otherwise RESP2 shapes. Only the commands Redis Sentinel has
//! exist here; anything else is `ERR unknown command`, as on a Redis sentinel.

mod fields;
pub mod info;
pub mod sentinel;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigil_proto::{Frame, Limits, RequestParser};

use crate::daemon::{ApiRequest, Msg, Published};

pub use sentinel::answer;

pub(crate) fn bulk(s: impl AsRef<[u8]>) -> Frame {
    Frame::bulk(s)
}

pub(crate) fn err(s: &str) -> Frame {
    Frame::error(s)
}

/// A field/value map, every value a bulk string (as Redis Sentinel replies); RESP2
/// connections get it as a flat array (see [`for_protocol`]).
pub(crate) fn fields(pairs: Vec<(&str, String)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
}

pub(crate) fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Adapts shapes to the connection's protocol: for RESP2 maps become flat arrays and push
/// frames arrays; for RESP3 a null array is the RESP3 null.
pub fn for_protocol(frame: Frame, resp: u8) -> Frame {
    if resp >= 3 {
        return if frame == Frame::NullArray { Frame::Null } else { frame };
    }
    match frame {
        Frame::Map(pairs) => {
            Frame::Array(pairs.into_iter().flat_map(|(k, v)| [for_protocol(k, resp), for_protocol(v, resp)]).collect())
        }
        Frame::Array(items) => Frame::Array(items.into_iter().map(|f| for_protocol(f, resp)).collect()),
        Frame::Set(items) | Frame::Push(items) => {
            Frame::Array(items.into_iter().map(|f| for_protocol(f, resp)).collect())
        }
        Frame::Null => Frame::NullBulk,
        other => other,
    }
}

/// What every connection shares.
pub struct Shared {
    /// The core's inbox.
    pub core: mpsc::Sender<Msg>,
    /// The event feed.
    pub events: broadcast::Sender<Published>,
    /// Cancelled on shutdown (and by SHUTDOWN).
    pub shutdown: CancellationToken,
    /// `requirepass` ("" = none).
    pub requirepass: String,
}

/// The commands a sentinel has, with Redis's arity (negative: at least).
const COMMANDS: &[(&str, i32)] = &[
    ("auth", -2),
    ("client", -2),
    ("command", -1),
    ("hello", -1),
    ("info", -1),
    ("ping", -1),
    ("psubscribe", -2),
    ("publish", 3),
    ("punsubscribe", -1),
    ("quit", -1),
    ("role", 1),
    ("sentinel", -2),
    ("shutdown", -1),
    ("subscribe", -2),
    ("unsubscribe", -1),
];

fn unknown_command(args: &[Bytes]) -> Frame {
    let mut s = format!("ERR unknown command '{}', with args beginning with: ", String::from_utf8_lossy(&args[0]));
    for a in args[1..].iter().take(16) {
        let a = String::from_utf8_lossy(a);
        s.push_str(&format!("'{}' ", a.chars().take(128).collect::<String>()));
    }
    err(&s)
}

/// One connection's state.
struct Conn {
    resp: u8,
    authed: bool,
    name: Option<Bytes>,
    id: u64,
    feed: Option<broadcast::Receiver<Published>>,
    channels: Vec<(String, bool)>, // (name or pattern, is pattern)
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What handling one request leads to.
enum Next {
    Reply(Frame),
    Many(Vec<Frame>),
    Core,
    Close(Frame),
}

impl Conn {
    fn handle(&mut self, args: &[Bytes], shared: &Shared) -> Next {
        let cmd = lower(&args[0]);
        let Some(&(_, arity)) = COMMANDS.iter().find(|(n, _)| *n == cmd) else {
            return Next::Reply(unknown_command(args));
        };
        let n = args.len() as i32;
        if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
            return Next::Reply(err(&format!("ERR wrong number of arguments for '{cmd}' command")));
        }
        if !self.authed && !matches!(cmd.as_str(), "auth" | "hello" | "quit") {
            return Next::Reply(err("NOAUTH Authentication required."));
        }
        let subscribed = !self.channels.is_empty() && self.resp < 3;
        if subscribed
            && !matches!(cmd.as_str(), "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit")
        {
            return Next::Reply(err(&format!(
                "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )));
        }
        match cmd.as_str() {
            "ping" if args.len() > 2 => Next::Reply(err("ERR wrong number of arguments for 'ping' command")),
            "ping" if subscribed => {
                Next::Reply(Frame::Array(vec![bulk("pong"), args.get(1).map_or(bulk(""), |m| Frame::Bulk(m.clone()))]))
            }
            "ping" => Next::Reply(args.get(1).map_or(Frame::simple("PONG"), |m| Frame::Bulk(m.clone()))),
            "quit" => Next::Close(Frame::simple("OK")),
            "auth" => Next::Reply(self.auth(&args[1..], shared)),
            "hello" => self.hello(args, shared),
            "client" => Next::Reply(self.client(args)),
            "command" => Next::Reply(command(args)),
            "publish" => Next::Reply(err("ERR Only HELLO messages are accepted by Sentinel instances.")),
            "subscribe" | "psubscribe" => {
                let pattern = cmd == "psubscribe";
                self.feed.get_or_insert_with(|| shared.events.subscribe());
                let mut acks = Vec::new();
                for ch in &args[1..] {
                    let ch = String::from_utf8_lossy(ch).into_owned();
                    if !self.channels.contains(&(ch.clone(), pattern)) {
                        self.channels.push((ch.clone(), pattern));
                    }
                    acks.push(self.ack(&cmd, Some(&ch)));
                }
                Next::Many(acks)
            }
            "unsubscribe" | "punsubscribe" => {
                let pattern = cmd == "punsubscribe";
                let names: Vec<String> = if args.len() > 1 {
                    args[1..].iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect()
                } else {
                    self.channels.iter().filter(|(_, p)| *p == pattern).map(|(c, _)| c.clone()).collect()
                };
                if names.is_empty() {
                    return Next::Many(vec![self.ack(&cmd, None)]);
                }
                let mut acks = Vec::new();
                for ch in names {
                    self.channels.retain(|(c, p)| !(*c == ch && *p == pattern));
                    acks.push(self.ack(&cmd, Some(&ch)));
                }
                if self.channels.is_empty() {
                    self.feed = None;
                }
                Next::Many(acks)
            }
            "shutdown" => {
                tracing::warn!("SHUTDOWN requested by a client: stopping");
                shared.shutdown.cancel();
                Next::Close(Frame::simple("OK"))
            }
            _ => Next::Core,
        }
    }

    fn ack(&self, kind: &str, ch: Option<&str>) -> Frame {
        let count = self.channels.len() as i64;
        Frame::Push(vec![bulk(kind), ch.map_or(Frame::NullBulk, bulk), Frame::Integer(count)])
    }

    fn auth(&mut self, args: &[Bytes], shared: &Shared) -> Frame {
        if shared.requirepass.is_empty() {
            if args.len() == 1 {
                return err(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
        } else {
            let user_ok = args.len() == 1 || &args[0][..] == b"default";
            if user_ok && args.last().is_some_and(|p| p[..] == *shared.requirepass.as_bytes()) {
                self.authed = true;
                return Frame::simple("OK");
            }
        }
        if args.len() > 2 {
            return err("ERR syntax error");
        }
        err("WRONGPASS invalid username-password pair or user is disabled.")
    }

    fn hello(&mut self, args: &[Bytes], shared: &Shared) -> Next {
        let mut version = self.resp;
        let mut i = 1;
        if let Some(v) = args.get(1) {
            match vigil_proto::request::parse_i64(v) {
                Some(2) => version = 2,
                Some(3) => version = 3,
                Some(_) => return Next::Reply(err("NOPROTO unsupported protocol version")),
                None => return Next::Reply(err("ERR Protocol version is not an integer or out of range")),
            }
            i = 2;
        }
        while i < args.len() {
            match lower(&args[i]).as_str() {
                "auth" if i + 2 < args.len() => {
                    let r = self.auth(&args[i + 1..i + 3], shared);
                    if matches!(r, Frame::Error(_)) {
                        return Next::Reply(r);
                    }
                    i += 3;
                }
                "setname" if i + 1 < args.len() => {
                    self.name = Some(args[i + 1].clone());
                    i += 2;
                }
                _ => return Next::Reply(err(&format!("ERR Syntax error in HELLO option '{}'", lower(&args[i])))),
            }
        }
        if !self.authed {
            return Next::Reply(err(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            ));
        }
        self.resp = version;
        Next::Reply(Frame::Map(vec![
            (bulk("server"), bulk("redis")),
            (bulk("version"), bulk("7.0.15")),
            (bulk("proto"), Frame::Integer(version as i64)),
            (bulk("id"), Frame::Integer(self.id as i64)),
            (bulk("mode"), bulk("sentinel")),
            (bulk("role"), bulk("master")),
            (bulk("modules"), Frame::Array(vec![])),
        ]))
    }

    fn client(&mut self, args: &[Bytes]) -> Frame {
        match lower(&args[1]).as_str() {
            "setname" if args.len() == 3 => {
                if args[2].iter().any(|b| *b <= b' ' || *b > b'~') {
                    return err("ERR Client names cannot contain spaces, newlines or special characters.");
                }
                self.name = (!args[2].is_empty()).then(|| args[2].clone());
                Frame::simple("OK")
            }
            "getname" if args.len() == 2 => self.name.clone().map_or(Frame::NullBulk, Frame::Bulk),
            "id" if args.len() == 2 => Frame::Integer(self.id as i64),
            "setinfo" if args.len() == 4 => Frame::simple("OK"),
            "setname" | "getname" | "id" | "setinfo" => {
                err(&format!("ERR wrong number of arguments for 'client|{}' command", lower(&args[1])))
            }
            _ => err(&format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", String::from_utf8_lossy(&args[1]))),
        }
    }
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND LIST`, `COMMAND INFO name...`, `COMMAND DOCS` (no
/// docs: an empty map, which redis-cli accepts).
fn command(args: &[Bytes]) -> Frame {
    let info = |name: &str| {
        COMMANDS.iter().find(|(n, _)| *n == name).map_or(Frame::NullArray, |(n, a)| {
            Frame::Array(vec![
                bulk(n),
                Frame::Integer(*a as i64),
                Frame::Set(vec![Frame::simple("sentinel")]),
                Frame::Integer(0),
                Frame::Integer(0),
                Frame::Integer(0),
                Frame::Set(vec![]),
            ])
        })
    };
    match args.get(1).map(|s| lower(s)).as_deref() {
        None => Frame::Array(COMMANDS.iter().map(|(n, _)| info(n)).collect()),
        Some("count") => Frame::Integer(COMMANDS.len() as i64),
        Some("list") => Frame::Array(COMMANDS.iter().map(|(n, _)| bulk(n)).collect()),
        Some("info") => Frame::Array(args[2..].iter().map(|n| info(&lower(n))).collect()),
        Some("docs") => Frame::Map(vec![]),
        Some(_) => err(&format!("ERR unknown subcommand '{}'. Try COMMAND HELP.", String::from_utf8_lossy(&args[1]))),
    }
}

/// Serves one API connection.
pub async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    info::CONNECTED.fetch_add(1, Ordering::Relaxed);
    info::ACCEPTED.fetch_add(1, Ordering::Relaxed);
    serve_inner(&mut stream, &shared).await;
    info::CONNECTED.fetch_sub(1, Ordering::Relaxed);
}

async fn serve_inner(stream: &mut TcpStream, shared: &Shared) {
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::new();
    let mut parser = RequestParser::new();
    let mut args = Vec::new();
    let mut conn = Conn {
        resp: 2,
        authed: shared.requirepass.is_empty(),
        name: None,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        feed: None,
        channels: Vec::new(),
    };
    loop {
        loop {
            match parser.parse(&mut rbuf, Limits::default(), &mut args) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes());
                    let _ = stream.write_all(&out).await;
                    return;
                }
            }
            info::COMMANDS.fetch_add(1, Ordering::Relaxed);
            let reply = match conn.handle(&args, shared) {
                Next::Reply(f) => f,
                Next::Many(frames) => {
                    for f in frames {
                        for_protocol(f, conn.resp).encode(&mut out);
                    }
                    continue;
                }
                Next::Close(f) => {
                    for_protocol(f, conn.resp).encode(&mut out);
                    let _ = stream.write_all(&out).await;
                    return;
                }
                Next::Core => {
                    let (tx, rx) = oneshot::channel();
                    if shared.core.send(Msg::Api(ApiRequest { args: args.clone(), reply: tx })).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(f) => f,
                        Err(_) => return,
                    }
                }
            };
            for_protocol(reply, conn.resp).encode(&mut out);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            Some(ev) = recv(&mut conn.feed) => {
                let (event, payload) = ev;
                for (ch, pattern) in &conn.channels {
                    let hit = if *pattern { glob(ch, &event) } else { *ch == event };
                    if hit {
                        let msg = if *pattern {
                            Frame::Push(vec![bulk("pmessage"), bulk(ch), bulk(&event), bulk(&payload)])
                        } else {
                            Frame::Push(vec![bulk("message"), bulk(&event), bulk(&payload)])
                        };
                        for_protocol(msg, conn.resp).encode(&mut out);
                    }
                }
            }
        }
    }
}

async fn recv(feed: &mut Option<broadcast::Receiver<Published>>) -> Option<Published> {
    match feed {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        None => std::future::pending().await,
    }
}

/// `*`, `?` and `[...]` globbing (Redis's stringmatch without escapes), for event patterns,
/// `SENTINEL RESET` and `SENTINEL CONFIG GET`.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(b'['), Some(c)) => match p.iter().position(|b| *b == b']') {
                Some(end) if end > 1 => p[1..end].contains(c) && m(&p[end + 1..], &s[1..]),
                _ => p[0] == *c && m(&p[1..], &s[1..]),
            },
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}
