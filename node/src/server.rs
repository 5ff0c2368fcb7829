//! The server: shared state, the accept loop, background work and shutdown.
//!
//! [`run`] takes bound listeners and a cancellation token. Every connection and background task
//! is spawned on a `TaskTracker` and selects on the token; when it is cancelled (SIGINT,
//! SIGTERM, `SHUTDOWN`), the listeners stop, every connection closes, and `run` returns once all
//! tasks have finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients::Registry;
use crate::config::Config;
use crate::db::{Keyspace, SHARDS};
use crate::pubsub::Hub;

/// Server-wide counters (INFO stats) for rare events. Per-command counters (commands, bytes)
/// live in each connection's [`crate::clients::ClientInfo`], so cores never contend for them.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections_received: AtomicU64,
    /// Connections refused because of maxclients.
    pub rejected_connections: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// PUBLISH messages delivered.
    pub pubsub_messages: AtomicU64,
}

/// A function that applies a new log level.
pub type LogLevelHook = Box<dyn Fn(&str) + Send + Sync>;

/// State shared by every connection.
pub struct Server {
    /// The data.
    pub keyspace: Keyspace,
    /// Current configuration (CONFIG SET changes it).
    pub config: RwLock<Config>,
    /// Bumped on every CONFIG SET, so connections know to refresh cached settings.
    pub config_epoch: AtomicU64,
    /// Connected clients.
    pub clients: Registry,
    /// Pub/sub subscriptions.
    pub pubsub: Hub,
    /// Counters.
    pub stats: Stats,
    /// 40 hex characters, new at every start.
    pub run_id: String,
    /// Process start.
    pub started: Instant,
    /// Cancelled to shut the server down.
    pub shutdown: CancellationToken,
    /// The TCP port actually bound.
    pub port: u16,
    /// Until this unix ms time the server is frozen (DEBUG SLEEP): connections wait.
    pub frozen_until: AtomicI64,
    /// Unix time of the last successful save (start time until persistence exists).
    pub lastsave: AtomicI64,
    /// Applies a new log level (set by `main`; absent in tests).
    pub set_loglevel: Option<LogLevelHook>,
    /// Replication state (lock order: keyspace shards before this).
    pub repl: parking_lot::Mutex<crate::repl::Repl>,
    /// True once a backlog exists: writes are appended to the replication stream.
    feeding: AtomicBool,
    /// True while this node is a replica with `replica-read-only yes`.
    readonly: AtomicBool,
    /// True while `min-replicas-to-write` is above 0.
    min_replicas: AtomicBool,
    /// True while this replica's link is down and `replica-serve-stale-data` is `no`.
    stale: AtomicBool,
    /// Woken whenever a replica acknowledges an offset (WAIT listens).
    pub acks: tokio::sync::Notify,
    /// One snapshot at a time (its copy-on-write state lives in the databases).
    pub snapshot_gate: tokio::sync::Mutex<()>,
    /// CLIENT PAUSE: clients are paused until this unix-ms time ...
    pause_until_ms: AtomicI64,
    /// ... all their commands (true) or only writes (false).
    pause_all: AtomicBool,
    /// Woken by CLIENT UNPAUSE.
    pub unpaused: tokio::sync::Notify,
    /// The master we should replicate from (`None`: we are a master); the replica driver
    /// watches it.
    pub replicaof: tokio::sync::watch::Sender<Option<(String, u16)>>,
}

/// The current unix time in milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn new_run_id() -> String {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Server {
    /// A server with this configuration, listening on `port`.
    pub fn new(mut config: Config, port: u16, shutdown: CancellationToken) -> Server {
        // With `port 0` the system picked the port; report the real one (CONFIG GET, INFO).
        config.port = port;
        let backlog = config.int("repl-backlog-size").max(1) as usize;
        let replicaof = config.text("replicaof");
        let mut target = replicaof.split_whitespace();
        let target = match (target.next(), target.next().and_then(|p| p.parse::<u16>().ok())) {
            (Some(h), Some(p)) => Some((h.to_string(), p)),
            _ => None,
        };
        let readonly = target.is_some() && config.flag("replica-read-only");
        let srv = Server {
            keyspace: Keyspace::new(config.databases),
            config: RwLock::new(config),
            config_epoch: AtomicU64::new(0),
            clients: Registry::default(),
            pubsub: Hub::default(),
            stats: Stats::default(),
            run_id: new_run_id(),
            started: Instant::now(),
            shutdown,
            port,
            frozen_until: AtomicI64::new(0),
            lastsave: AtomicI64::new(unix_ms() / 1000),
            set_loglevel: None,
            repl: parking_lot::Mutex::new(crate::repl::Repl::new(backlog)),
            feeding: AtomicBool::new(false),
            readonly: AtomicBool::new(false),
            min_replicas: AtomicBool::new(false),
            acks: tokio::sync::Notify::new(),
            snapshot_gate: tokio::sync::Mutex::new(()),
            pause_until_ms: AtomicI64::new(0),
            pause_all: AtomicBool::new(false),
            unpaused: tokio::sync::Notify::new(),
            stale: AtomicBool::new(false),
            replicaof: tokio::sync::watch::Sender::new(None),
        };
        if target.is_some() {
            // Started as a replica: no history of its own to offer (PSYNC ? -1).
            srv.repl.lock().fresh = true;
            let mut l = srv.keyspace.lock_all();
            crate::cmd::replication::set_master(&srv, &mut l, target);
        }
        srv.set_readonly(readonly);
        srv.refresh_cached_settings();
        srv
    }

    /// True if writes must be appended to the replication stream.
    #[inline]
    pub fn feeding(&self) -> bool {
        self.feeding.load(Ordering::Acquire)
    }

    /// Marks that a backlog exists (set while holding `repl`).
    pub fn set_feeding(&self, on: bool) {
        self.feeding.store(on, Ordering::Release);
    }

    /// True if `min-replicas-to-write` is set (a cached flag: the check itself takes locks).
    #[inline]
    pub fn min_replicas(&self) -> bool {
        self.min_replicas.load(Ordering::Relaxed)
    }

    /// Re-reads settings that are cached in atomics (after CONFIG SET).
    pub fn refresh_cached_settings(&self) {
        // Never hold the config lock while taking `repl` (INFO takes them the other way round).
        let (min, ro, serve_stale) = {
            let c = self.config.read();
            (c.int("min-replicas-to-write") > 0, c.flag("replica-read-only"), c.flag("replica-serve-stale-data"))
        };
        self.min_replicas.store(min, Ordering::Relaxed);
        let (replica, link_up) = {
            let r = self.repl.lock();
            (r.master.is_some(), r.master.as_ref().is_some_and(|m| m.state == crate::repl::LinkState::Connected))
        };
        self.readonly.store(replica && ro, Ordering::Relaxed);
        self.stale.store(replica && !link_up && !serve_stale, Ordering::Relaxed);
    }

    /// Pauses clients until `until_ms` (CLIENT PAUSE). A pause never shortens or weakens one
    /// already in force, as in Redis.
    pub fn pause_clients(&self, until_ms: i64, all: bool) {
        let active = self.pause_until_ms.load(Ordering::Acquire) > unix_ms();
        let all = all || (active && self.pause_all.load(Ordering::Acquire));
        self.pause_all.store(all, Ordering::Release);
        if active {
            self.pause_until_ms.fetch_max(until_ms, Ordering::AcqRel);
        } else {
            self.pause_until_ms.store(until_ms, Ordering::Release);
        }
        crate::db::EXPIRY_PAUSED_UNTIL_MS.store(self.pause_until_ms.load(Ordering::Acquire), Ordering::Release);
    }

    /// Ends a pause (CLIENT UNPAUSE).
    pub fn unpause_clients(&self) {
        self.pause_until_ms.store(0, Ordering::Release);
        self.pause_all.store(false, Ordering::Release);
        crate::db::EXPIRY_PAUSED_UNTIL_MS.store(0, Ordering::Release);
        self.unpaused.notify_waiters();
    }

    /// Until when a command that writes (`writes`) or not is held back, if it is now.
    #[inline]
    pub fn paused_until(&self, writes: bool, now_ms: i64) -> Option<i64> {
        let until = self.pause_until_ms.load(Ordering::Acquire);
        (until > now_ms && (writes || self.pause_all.load(Ordering::Acquire))).then_some(until)
    }

    /// True if commands without the `stale` flag must be refused with MASTERDOWN.
    #[inline]
    pub fn refuses_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// True if client writes must be refused with READONLY.
    #[inline]
    pub fn readonly_replica(&self) -> bool {
        self.readonly.load(Ordering::Relaxed)
    }

    /// Sets whether client writes are refused (replica with replica-read-only).
    pub fn set_readonly(&self, on: bool) {
        self.readonly.store(on, Ordering::Relaxed);
    }

    /// Bumps the configuration epoch after a change.
    pub fn config_changed(&self) {
        self.refresh_cached_settings();
        self.config_epoch.fetch_add(1, Ordering::Release);
    }
}

/// Accepts connections on `listeners` until `server.shutdown` is cancelled, then waits for every
/// connection and background task to finish.
pub async fn run(listeners: Vec<TcpListener>, server: Arc<Server>) {
    let tracker = TaskTracker::new();
    for listener in listeners {
        let server = server.clone();
        let t = tracker.clone();
        tracker.spawn(accept_loop(listener, server, t));
    }
    tracker.spawn(cron(server.clone()));
    tracker.spawn(crate::repl::replica::run(server.clone()));
    tracker.close();
    server.shutdown.cancelled().await;
    tracing::info!("shutting down: closing {} client connections", server.clients.len());
    tracker.wait().await;
    tracing::info!("all connections closed; bye");
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = server.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, addr)) => {
                server.stats.connections_received.fetch_add(1, Ordering::Relaxed);
                let s = server.clone();
                tracker.spawn(crate::conn::accept(stream, addr, s));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::select! {
                    _ = server.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// Background work, `hz` times per second: active expiry, bounded to about a quarter of one
/// core (as Redis's `ACTIVE_EXPIRE_CYCLE_SLOW`).
/// Sends `ping` down the replication stream if this node is a master with replicas, every
/// `repl-ping-replica-period` seconds, so an idle link is not taken for a dead one.
fn ping_replicas(server: &Server) {
    let mut repl = server.repl.lock();
    if repl.master.is_none() && !repl.replicas.is_empty() {
        repl.feed_raw(bytes::Bytes::from_static(b"*1\r\n$4\r\nping\r\n"));
    }
}

async fn cron(server: Arc<Server>) {
    let mut next_shard = 0usize;
    let mut last_ping = Instant::now();
    loop {
        let hz = server.config.read().hz.max(1);
        let period = Duration::from_millis(1000 / hz as u64);
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let ping_period = Duration::from_secs(server.config.read().int("repl-ping-replica-period").max(1) as u64);
        if last_ping.elapsed() >= ping_period {
            last_ping = Instant::now();
            ping_replicas(&server);
        }
        let budget = period / 4;
        let start = Instant::now();
        let mut rng = rand::rng();
        let mut visited = 0;
        while visited < SHARDS && start.elapsed() < budget {
            let now = unix_ms();
            let mut shard = server.keyspace.lock_shard(next_shard);
            let mut deleted = 0;
            let mut expired = Vec::new();
            for (i, db) in shard.dbs.iter_mut().enumerate() {
                if db.expires_len() > 0 {
                    deleted += db.active_expire(now, 200, &mut rng);
                }
                if db.has_expired() {
                    expired.extend(db.take_expired().into_iter().map(|k| (i, k)));
                }
                // Finish resizes of idle tables (Redis's `activerehashing`).
                db.rehash(100);
            }
            if !expired.is_empty() && server.feeding() {
                // Still holding the shard: replicas delete in the same order.
                let mut repl = server.repl.lock();
                for (db, key) in expired {
                    repl.feed(db, &[bytes::Bytes::from_static(b"DEL"), bytes::Bytes::copy_from_slice(&key)]);
                }
            }
            shard.stats.expired_keys += deleted;
            drop(shard);
            next_shard = (next_shard + 1) % SHARDS;
            visited += 1;
        }
    }
}
