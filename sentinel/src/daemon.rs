//! The driver: owns the sockets and the clock, feeds the pure [`Monitor`]s, carries out their
//! actions.
//!
//! - One **link task** per instance PINGs it (every second, or every half down-after if that is
//!   shorter) and sends INFO at the period the
//!   monitor asks for, reporting every reply as an [`Event`]. A PING that gets no reply within a
//!   second drops the connection (it is re-opened at once), so a late reply can never be taken
//!   for the answer to a later command.
//! - The **core task** owns every `Monitor` (no lock): it receives link events and API
//!   requests on one channel, ticks every 100 ms, and executes actions: publish events, open
//!   links, send the promotion and re-pointing transactions.
//! - Promotion is confirmed by polling the promoted replica's INFO right away instead of waiting
//!   for the next periodic INFO (Redis Sentinel loses about a second there).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigil_proto::{Client, Frame};

use crate::core::detect::PingReply;
use crate::core::monitor::{Action, Event, Monitor, Params};
use crate::info;

/// A request from the API to the core task.
pub struct ApiRequest {
    /// The command's arguments.
    pub args: Vec<bytes::Bytes>,
    /// Where the reply goes.
    pub reply: oneshot::Sender<Frame>,
}

/// Messages to the core task.
pub enum Msg {
    /// Something happened on a link of master group `.0`.
    Link(String, Event),
    /// An API request.
    Api(ApiRequest),
}

/// A published event: channel (the event name) and payload.
pub type Published = (String, String);

/// One monitored master as configured.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Group name.
    pub name: String,
    /// Master address `ip:port`.
    pub addr: String,
    /// Policy.
    pub params: Params,
}

/// The core task's state.
pub struct Core {
    /// This sentinel's id (40 hex).
    pub myid: String,
    /// Monitors by name.
    pub monitors: BTreeMap<String, Monitor>,
    started: Instant,
    tx: mpsc::Sender<Msg>,
    events: broadcast::Sender<Published>,
    links: BTreeMap<(String, String), Arc<AtomicU64>>,
    shutdown: CancellationToken,
    dir: std::path::PathBuf,
}

impl Core {
    /// Milliseconds since start: the monitors' clock.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn open_link(&mut self, name: &str, addr: &str) {
        let key = (name.to_string(), addr.to_string());
        if self.links.contains_key(&key) {
            return;
        }
        // As Redis: PING at least every second, and at least twice per down-after period, so
        // a reconnecting link is never judged down on a stale reply.
        let down_after = self.monitors.get(name).map_or(30_000, |m| m.params.down_after_ms);
        let ping = Duration::from_millis(down_after.div_ceil(2).clamp(100, 1000));
        let period = Arc::new(AtomicU64::new(10_000));
        self.links.insert(key, period.clone());
        tokio::spawn(link(name.to_string(), addr.to_string(), self.tx.clone(), period, ping, self.shutdown.clone()));
    }

    /// Carries out a monitor's actions.
    pub fn run_actions(&mut self, name: &str, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Publish(event, payload) => {
                    tracing::info!("{event} {payload}");
                    let _ = self.events.send((event.to_string(), payload));
                }
                Action::Connect(addr) => self.open_link(name, &addr),
                Action::PauseWrites(addr, ms) => {
                    tokio::spawn(pause_writes(name.to_string(), addr, ms, self.tx.clone()));
                }
                Action::Promote(addr) => {
                    tokio::spawn(send_transaction(name.to_string(), addr, None, self.tx.clone()));
                }
                Action::Reconfigure(addr, to) => {
                    tokio::spawn(send_transaction(name.to_string(), addr, Some(to), self.tx.clone()));
                }
                Action::Save => self.save(),
            }
        }
    }

    /// Writes the state file (see [`crate::state`]); failures are logged, not fatal.
    fn save(&self) {
        let groups = self.monitors.values().map(|m| {
            (
                m.name.as_str(),
                crate::state::Saved {
                    master: m.master.clone(),
                    config_epoch: m.config_epoch,
                    current_epoch: m.current_epoch,
                    replicas: m.replicas(),
                },
            )
        });
        if let Err(e) = crate::state::save(&self.dir, groups) {
            tracing::warn!("cannot save the state in {}: {e}", self.dir.display());
        }
    }

    /// Runs a monitor step and executes its actions.
    pub fn step(&mut self, name: &str, event: Event) {
        let now = self.now();
        let Some(m) = self.monitors.get_mut(name) else { return };
        let actions = m.step(now, event);
        // Keep each link's INFO period in line with the monitor's wishes.
        for ((n, addr), period) in &self.links {
            if n == name {
                period.store(m.info_period_ms(addr), Ordering::Relaxed);
            }
        }
        self.run_actions(name, actions);
    }
}

/// Starts the core task for `masters`; returns its inbox and the event feed.
pub fn start(
    myid: String,
    dir: std::path::PathBuf,
    masters: Vec<MasterConfig>,
    saved: BTreeMap<String, crate::state::Saved>,
    shutdown: CancellationToken,
) -> (mpsc::Sender<Msg>, broadcast::Sender<Published>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4096);
    let (events, _) = broadcast::channel(1024);
    let mut core = Core {
        myid,
        monitors: BTreeMap::new(),
        started: Instant::now(),
        tx: tx.clone(),
        events: events.clone(),
        links: BTreeMap::new(),
        shutdown: shutdown.clone(),
        dir,
    };
    for m in masters {
        let now = core.now();
        let mut monitor = Monitor::new(&m.name, m.addr.clone(), m.params, now);
        // What a previous run learnt wins over the command line: after a failover the
        // configured address is the old master.
        if let Some(s) = saved.get(&m.name).filter(|s| !s.master.is_empty()) {
            monitor.restore(s.master.clone(), s.config_epoch, s.current_epoch, &s.replicas, now);
            tracing::info!(name = %m.name, master = %s.master, epoch = s.config_epoch, "resumed from the state file");
        }
        let replicas = monitor.replicas();
        let m = MasterConfig { addr: monitor.master.clone(), ..m };
        core.monitors.insert(m.name.clone(), monitor);
        for r in replicas {
            core.open_link(&m.name, &r);
        }
        let _ = events.send((
            "+monitor".into(),
            format!("master {} {} quorum {}", m.name, m.addr.replace(':', " "), m.params.quorum),
        ));
        core.open_link(&m.name, &m.addr);
    }
    let handle = tokio::spawn(run(core, rx));
    (tx, events, handle)
}

async fn run(mut core: Core, mut rx: mpsc::Receiver<Msg>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let names: Vec<String> = core.monitors.keys().cloned().collect();
                for n in names {
                    core.step(&n, Event::Tick);
                }
            }
            msg = rx.recv() => match msg {
                None => return,
                Some(Msg::Link(name, event)) => core.step(&name, event),
                Some(Msg::Api(req)) => {
                    let reply = crate::api::answer(&mut core, &req.args);
                    let _ = req.reply.send(reply);
                }
            }
        }
    }
}

fn classify(reply: &Frame) -> PingReply {
    match reply {
        Frame::Simple(s) if s.as_ref() == b"PONG" => PingReply::Pong,
        Frame::Error(e) if e.starts_with(b"LOADING") => PingReply::Loading,
        Frame::Error(e) if e.starts_with(b"MASTERDOWN") => PingReply::MasterDown,
        _ => PingReply::Other,
    }
}

/// The command link to one instance: PING every second, INFO at the asked period.
async fn link(
    name: String,
    addr: String,
    tx: mpsc::Sender<Msg>,
    info_period: Arc<AtomicU64>,
    ping_period: Duration,
    cancel: CancellationToken,
) {
    let send = |e: Event| {
        let tx = tx.clone();
        let name = name.clone();
        async move {
            let _ = tx.send(Msg::Link(name, e)).await;
        }
    };
    loop {
        let attempt = async {
            let mut c = Client::connect(&addr, Duration::from_secs(1)).await.ok()?;
            send(Event::Connected(addr.clone())).await;
            let _ = c.cmd(&["CLIENT", "SETNAME", "sentinel-cmd"]).await;
            let mut last_info: Option<Instant> = None;
            loop {
                send(Event::PingSent(addr.clone())).await;
                let reply = c.cmd(&["PING"]).await.ok()?;
                send(Event::Ping(addr.clone(), classify(&reply))).await;
                let period = Duration::from_millis(info_period.load(Ordering::Relaxed));
                if last_info.is_none_or(|t| t.elapsed() >= period) {
                    let text = c.cmd(&["INFO"]).await.ok()?;
                    if let Some(t) = text.as_bytes() {
                        send(Event::Info(addr.clone(), info::parse(&String::from_utf8_lossy(t)))).await;
                    }
                    last_info = Some(Instant::now());
                }
                tokio::time::sleep(ping_period).await;
            }
            #[allow(unreachable_code)]
            Some(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = attempt => {}
        }
        send(Event::Disconnected(addr.clone())).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Sends the reconfiguration transaction Redis Sentinel sends, as one MULTI/EXEC: `SLAVEOF NO
/// ONE` (promotion) or `SLAVEOF host port`, then `CONFIG REWRITE` and the two `CLIENT KILL`s.
/// After a promotion it polls the replica's INFO at once to confirm it.
async fn send_transaction(name: String, addr: String, to: Option<String>, tx: mpsc::Sender<Msg>) {
    let slaveof: Vec<String> = match &to {
        None => vec!["SLAVEOF".into(), "NO".into(), "ONE".into()],
        Some(t) => {
            let (h, p) = t.rsplit_once(':').unwrap_or((t, "0"));
            vec!["SLAVEOF".into(), h.into(), p.into()]
        }
    };
    let cmds: Vec<Vec<String>> = vec![
        vec!["MULTI".into()],
        slaveof,
        vec!["CONFIG".into(), "REWRITE".into()],
        vec!["CLIENT".into(), "KILL".into(), "TYPE".into(), "normal".into()],
        vec!["CLIENT".into(), "KILL".into(), "TYPE".into(), "pubsub".into()],
        // An old master paused by a graceful failover releases its held clients: they now get
        // READONLY, never an acknowledgement that would be lost.
        vec!["CLIENT".into(), "UNPAUSE".into()],
        vec!["EXEC".into()],
    ];
    let sent = async {
        let mut c = Client::connect(&addr, Duration::from_secs(1)).await.ok()?;
        c.pipeline(&cmds).await.ok()?;
        Some(c)
    }
    .await;
    let Some(_) = sent else {
        tracing::warn!(%addr, "could not send the reconfiguration transaction");
        return;
    };
    if to.is_some() {
        return;
    }
    let _ = tx.send(Msg::Link(name.clone(), Event::PromotionSent(addr.clone()))).await;
    // Confirm the promotion at once: poll INFO until the replica reports role:master.
    for _ in 0..50 {
        if let Ok(mut c) = Client::connect(&addr, Duration::from_secs(1)).await
            && let Ok(text) = c.cmd(&["INFO", "replication"]).await
            && let Some(t) = text.as_bytes()
        {
            let parsed = info::parse(&String::from_utf8_lossy(t));
            let is_master = parsed.role == info::Role::Master;
            let _ = tx.send(Msg::Link(name.clone(), Event::Info(addr.clone(), parsed))).await;
            if is_master {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Graceful failover: `CLIENT PAUSE <ms> WRITE` on the old master, then report the offset its
/// stream stopped at, and poll the replicas' INFO quickly so the catch-up is seen at once.
async fn pause_writes(name: String, addr: String, ms: u64, tx: mpsc::Sender<Msg>) {
    let Ok(mut c) = Client::connect(&addr, Duration::from_secs(1)).await else {
        tracing::warn!(%addr, "graceful failover: cannot reach the master to pause it");
        return;
    };
    if c.cmd_ok(&["CLIENT", "PAUSE", &ms.to_string(), "WRITE"]).await.is_err() {
        tracing::warn!(%addr, "graceful failover: CLIENT PAUSE refused");
        return;
    }
    let Ok(text) = c.cmd(&["INFO", "replication"]).await else { return };
    let Some(t) = text.as_bytes() else { return };
    let parsed = info::parse(&String::from_utf8_lossy(t));
    tracing::info!(%addr, offset = parsed.master_repl_offset, "writes paused on the master for the failover");
    let _ = tx.send(Msg::Link(name, Event::MasterPaused(parsed.master_repl_offset))).await;
}
