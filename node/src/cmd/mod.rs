//! Commands: the table that describes them all, and the dispatcher.
//!
//! Every command is one [`Spec`] in [`TABLE`]: its name, arity, flags, where its keys are, and the
//! function that runs it. Everything that is the same for all commands is decided here, once:
//! unknown commands and subcommands, arity errors, authentication, the RESP2 subscribed-mode
//! restriction, queueing inside MULTI, and which keyspace shards to lock. A command body receives
//! its arguments and the locked shards and *returns* its reply; it never touches a socket, so it
//! can be unit-tested and run unchanged inside EXEC.
//!
//! The bodies live by family: [`connection`], [`keys`], [`strings`], [`pubsub`], [`txn`],
//! [`server`], [`client`], [`config`], [`introspect`] (COMMAND).

pub mod args;
pub mod client;
pub mod config;
pub mod connection;
pub mod introspect;
pub mod keys;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod strings;
pub mod syntax;
mod table;
pub mod txn;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;
use crate::server::Server;
use crate::session::Session;

pub use table::TABLE;

/// Context a command runs in: the server, the calling client's session, and the time.
pub struct Ctx<'a> {
    /// Shared server state.
    pub srv: &'a Server,
    /// The calling connection's state.
    pub session: &'a mut Session,
    /// Unix time in milliseconds, read once per command.
    pub now_ms: i64,
    /// What to replicate instead of the command as sent (set by bodies whose effect must be
    /// made deterministic: `SET .. EX` becomes `SET .. PXAT`, INCRBYFLOAT a SET, ...). An empty
    /// vector means "replicate nothing".
    pub rewrite: Option<Vec<Bytes>>,
    /// Commands to replicate once the current command (or EXEC) finishes, with their database.
    pub prop: Vec<(usize, Vec<Bytes>)>,
}

impl<'a> Ctx<'a> {
    /// A context for one command of `session`.
    pub fn new(srv: &'a Server, session: &'a mut Session, now_ms: i64) -> Ctx<'a> {
        Ctx { srv, session, now_ms, rewrite: None, prop: Vec::new() }
    }

    /// Replicates `argv` instead of the command as sent.
    pub fn propagate_as<A: AsRef<[u8]>>(&mut self, argv: &[A]) {
        self.rewrite = Some(argv.iter().map(|a| Bytes::copy_from_slice(a.as_ref())).collect());
    }
}

/// A command body.
pub type Handler = fn(&mut Ctx<'_>, &mut Locked<'_>, &[Bytes]) -> CmdResult;

/// Flag bits of a command.
pub mod flags {
    /// Modifies the keyspace.
    pub const WRITE: u32 = 1;
    /// Only reads the keyspace.
    pub const READONLY: u32 = 1 << 1;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 2;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 3;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 4;
    /// Runs at once even inside MULTI (not queued).
    pub const NO_MULTI: u32 = 1 << 5;
    /// Needs every shard locked (whole-keyspace commands, EXEC).
    pub const ALL_KEYS: u32 = 1 << 6;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 7;
    /// Allowed in RESP2 subscribed mode.
    pub const SUB_CONTEXT: u32 = 1 << 8;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 9;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 10;
    /// May allocate memory (refused at maxmemory).
    pub const DENYOOM: u32 = 1 << 11;

    /// Names as COMMAND INFO reports them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
    ];
}

/// Description of one command (or subcommand).
pub struct Spec {
    /// Lower-case name; subcommands are `container|sub`.
    pub name: &'static str,
    /// Exact argument count including the name if positive, minimum if negative.
    pub arity: i32,
    /// [`flags`] bits.
    pub flags: u32,
    /// First key position (0: no keys).
    pub first_key: i32,
    /// Last key position (-1: the last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// The body.
    pub run: Handler,
    /// Group, as COMMAND DOCS reports it.
    pub group: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// Subcommands, for container commands (CLIENT, CONFIG, ...).
    pub subs: &'static [Spec],
}

impl Spec {
    /// True if the flag bit is set.
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The key arguments of a call.
    pub fn keys<'b>(&self, args: &'b [Bytes]) -> impl Iterator<Item = &'b Bytes> + use<'b> {
        let (first, step) = (self.first_key as usize, self.step.max(1) as usize);
        let last = if self.first_key == 0 {
            0
        } else if self.last_key < 0 {
            (args.len() as i32 + self.last_key) as usize
        } else {
            (self.last_key as usize).min(args.len().saturating_sub(1))
        };
        let range = if self.first_key == 0 || first >= args.len() { 1..1 } else { first..last + 1 };
        args[range].iter().step_by(step)
    }

    fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 { argc == self.arity } else { argc >= -self.arity }
    }
}

type Index = HashMap<&'static [u8], &'static Spec, foldhash::fast::RandomState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| TABLE.iter().map(|s| (s.name.as_bytes(), s)).collect())
}

/// A number identifying a spec, for storing "last command" in an atomic.
pub fn spec_id(spec: &'static Spec) -> usize {
    spec.name.as_ptr() as usize
}

/// The name of the spec with this [`spec_id`].
pub fn spec_name(id: usize) -> &'static str {
    static NAMES: OnceLock<HashMap<usize, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        TABLE.iter().chain(TABLE.iter().flat_map(|s| s.subs.iter())).map(|s| (spec_id(s), s.name)).collect()
    });
    names.get(&id).copied().unwrap_or("NULL")
}

/// Finds a top-level command by name, case-insensitively, without allocating.
pub fn find(name: &[u8]) -> Option<&'static Spec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    index().get(&buf[..name.len()]).copied()
}

/// Resolves a call to its command or subcommand spec, checking arity.
pub fn lookup(args: &[Bytes]) -> CmdResult<&'static Spec> {
    let Some(spec) = find(&args[0]) else {
        return Err(unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return Err(CmdError::WrongArity(spec.name.to_string()));
    }
    if spec.subs.is_empty() || args.len() == 1 {
        return Ok(spec);
    }
    let sub = &args[1];
    let found = spec.subs.iter().find(|s| {
        let short = &s.name[spec.name.len() + 1..];
        short.as_bytes().eq_ignore_ascii_case(sub)
    });
    match found {
        Some(s) if s.arity_ok(args.len()) => Ok(s),
        Some(s) => Err(CmdError::WrongArity(s.name.to_string())),
        None => Err(CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(sub).into_owned(),
            cmd: spec.name.to_ascii_uppercase(),
        }),
    }
}

fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut listed = String::new();
    for a in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let a = String::from_utf8_lossy(a);
        let cut: String = a.chars().take(room).collect();
        listed.push('\'');
        listed.push_str(&cut);
        listed.push_str("' ");
    }
    let name: String = String::from_utf8_lossy(&args[0]).chars().take(128).collect();
    CmdError::Err(format!("unknown command '{name}', with args beginning with: {listed}"))
}

/// Runs one client request: every cross-cutting rule, then the body.
pub fn execute(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let spec = match lookup(args) {
        Ok(s) => s,
        Err(e) => {
            if let Some(m) = ctx.session.multi.as_mut() {
                m.aborted = true;
            }
            return Reply::Error(e);
        }
    };
    ctx.session.last_cmd = spec;
    if !ctx.session.authenticated && !spec.has(flags::NO_AUTH) {
        if let Some(m) = ctx.session.multi.as_mut() {
            m.aborted = true;
        }
        return Reply::Error(CmdError::NoAuth);
    }
    if ctx.session.resp == 2 && ctx.session.subscriptions() > 0 && !spec.has(flags::SUB_CONTEXT) {
        return Reply::Error(CmdError::Err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        )));
    }
    if ctx.srv.refuses_stale() && !spec.has(flags::STALE) && !ctx.session.is_master_link {
        if let Some(m) = ctx.session.multi.as_mut() {
            m.aborted = true;
        }
        return Reply::Error(CmdError::Coded(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.".into(),
        ));
    }
    if spec.has(flags::WRITE) && !ctx.session.is_master_link && ctx.srv.readonly_replica() {
        if let Some(m) = ctx.session.multi.as_mut() {
            m.aborted = true;
        }
        return Reply::Error(CmdError::Coded("READONLY You can't write against a read only replica.".into()));
    }
    if spec.has(flags::WRITE)
        && !ctx.session.is_master_link
        && ctx.srv.min_replicas()
        && !replication::enough_replicas(ctx.srv)
    {
        if let Some(m) = ctx.session.multi.as_mut() {
            m.aborted = true;
        }
        return Reply::Error(CmdError::Coded("NOREPLICAS Not enough good replicas to write.".into()));
    }
    if let Some(m) = ctx.session.multi.as_mut()
        && !spec.has(flags::NO_MULTI)
    {
        m.queue.push((spec, args.to_vec()));
        ctx.session.info.multi.store(m.queue.len() as i64, std::sync::atomic::Ordering::Relaxed);
        return Reply::Status("QUEUED");
    }
    // One atomic load when no pause is in force (the common case).
    if ctx.srv.paused_until(true, ctx.now_ms).is_some() && !ctx.session.is_master_link && spec.name != "client|unpause"
    {
        let writes = spec.has(flags::WRITE)
            || spec.name == "publish"
            || (spec.name == "exec"
                && ctx.session.multi.as_ref().is_some_and(|m| m.queue.iter().any(|(s, _)| s.has(flags::WRITE))));
        if ctx.srv.paused_until(writes, ctx.now_ms).is_some() {
            // Held back, not refused: the connection runs it again when the pause ends.
            ctx.session.postponed = Some(args.to_vec());
            return Reply::None;
        }
    }
    run(ctx, spec, args)
}

/// Runs a body with shards already locked, and records what it must replicate: `DEL` for keys
/// it found expired, then the command (or its rewrite) if it changed anything.
pub fn call(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, spec: &'static Spec, args: &[Bytes]) -> Reply {
    let feeding = ctx.srv.feeding();
    let before = if feeding && spec.has(flags::WRITE) { l.dirty() } else { 0 };
    ctx.rewrite = None;
    let master = ctx.session.is_master_link;
    if master {
        l.set_master_view(true);
    }
    let reply: Reply = (spec.run)(ctx, l, args).into();
    if master {
        l.set_master_view(false);
    }
    let expired = l.take_expired();
    if !feeding {
        return reply;
    }
    for (db, key) in expired {
        ctx.prop.push((db, vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(&key)]));
    }
    let changed = spec.has(flags::WRITE) && l.dirty() != before;
    if changed || (spec.name == "publish" && !reply.is_error()) {
        match ctx.rewrite.take() {
            Some(v) if v.is_empty() => {}
            Some(v) => ctx.prop.push((ctx.session.db, v)),
            None => ctx.prop.push((ctx.session.db, args.to_vec())),
        }
    }
    reply
}

/// Sends what `ctx.prop` collected to the replication stream; several commands from one EXEC
/// go as one MULTI/EXEC block.
pub fn flush_propagation(ctx: &mut Ctx<'_>, transaction: bool) {
    if ctx.prop.is_empty() {
        return;
    }
    let mut repl = ctx.srv.repl.lock();
    let wrap = transaction && ctx.prop.len() > 1;
    if wrap {
        let db = ctx.prop[0].0;
        repl.feed(db, &[Bytes::from_static(b"MULTI")]);
    }
    for (db, argv) in ctx.prop.drain(..) {
        repl.feed(db, &argv);
    }
    if wrap {
        let db = repl.stream_db.unwrap_or(0);
        repl.feed(db, &[Bytes::from_static(b"EXEC")]);
    }
    ctx.session.woff = repl.offset;
}

/// Locks what `spec` needs and runs its body.
pub fn run(ctx: &mut Ctx<'_>, spec: &'static Spec, args: &[Bytes]) -> Reply {
    let ks = &ctx.srv.keyspace;
    let mut locked = if spec.has(flags::ALL_KEYS) {
        ks.lock_all()
    } else if spec.first_key > 0 {
        if spec.first_key == spec.last_key || args.len() as i32 + spec.last_key == spec.first_key {
            ks.lock_key(&args[spec.first_key as usize])
        } else {
            ks.lock_keys(spec.keys(args))
        }
    } else {
        Locked::none()
    };
    let reply = call(ctx, &mut locked, spec, args);
    // Still holding the shards: the stream order agrees with each key's history.
    flush_propagation(ctx, spec.name == "exec");
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
    }

    #[test]
    fn lookup_reports_redis_errors() {
        let e = lookup(&call(&["FOO", "a", "b"])).err().expect("unknown").text();
        assert_eq!(e, "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
        let e = lookup(&call(&["get"])).err().expect("arity").text();
        assert_eq!(e, "ERR wrong number of arguments for 'get' command");
        let e = lookup(&call(&["config", "nope"])).err().expect("sub").text();
        assert_eq!(e, "ERR unknown subcommand 'nope'. Try CONFIG HELP.");
        let e = lookup(&call(&["config", "get"])).err().expect("sub arity").text();
        assert_eq!(e, "ERR wrong number of arguments for 'config|get' command");
        assert_eq!(lookup(&call(&["GeT", "k"])).ok().map(|s| s.name), Some("get"));
    }

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for s in TABLE {
            assert!(names.insert(s.name), "duplicate {}", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            for sub in s.subs {
                assert!(sub.name.starts_with(&format!("{}|", s.name)), "{}", sub.name);
            }
            if s.first_key > 0 {
                assert!(!s.has(flags::ALL_KEYS), "{} has keys and ALL_KEYS", s.name);
            }
        }
    }

    #[test]
    fn key_positions() {
        let mset = find(b"mset").expect("mset");
        let args = call(&["MSET", "a", "1", "b", "2"]);
        let keys: Vec<_> = mset.keys(&args).collect();
        assert_eq!(keys, vec![&args[1], &args[3]]);
        let get = find(b"get").expect("get");
        let args = call(&["GET", "k"]);
        assert_eq!(get.keys(&args).count(), 1);
    }
}
