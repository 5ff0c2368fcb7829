//! The driver: owns the sockets and the clock, feeds the pure [`Monitor`]s, carries out their
//! actions.
//!
//! - One **link task** per instance ([`link`]) PINGs it and sends INFO at the period the monitor
//!   asks for, reporting every reply to the core.
//! - The **core task** owns every `Monitor` (no lock): it receives link events and API requests
//!   on one channel, ticks every 100 ms (checking for TILT with the wall clock), and executes
//!   actions: publish events (and run the notification script), open links, send the promotion
//!   and re-pointing transactions ([`reconf`]), save the state file.
//! - Run-time administration (`SENTINEL MONITOR/REMOVE/SET/RESET/CONFIG SET/DEBUG`) lives in
//!   [`admin`].

pub mod admin;
pub mod group;
pub mod link;
pub mod reconf;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigil_proto::Frame;

use crate::config::Global;
pub use crate::config::MasterConfig;
use crate::core::monitor::{Action, Event, Monitor, split};
use crate::core::tilt::{Change, Tilt};
use crate::info;
use crate::scripts::Scripts;
use crate::state::{Added, State};

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
    /// INFO text from instance `.1` of group `.0`.
    Info(String, String, String),
    /// An API request.
    Api(ApiRequest),
    /// Sentinel groups: the replicated state changed.
    GroupState(crate::group::state::GroupState),
    /// Sentinel groups: this sentinel started (true) or stopped (false) leading the group.
    Leader(bool),
    /// Sentinel groups: a peer's report.
    Report(crate::group::service::PeerReport),
    /// Sentinel groups: this sentinel, just started, has caught up with the group.
    Synced,
}

/// A published event: channel (the event name) and payload.
pub type Published = (String, String);

/// Events at Redis's WARNING level: they also run the group's notification script.
const WARNING_EVENTS: &[&str] = &[
    "+monitor",
    "-monitor",
    "+reset-master",
    "+set",
    "+sdown",
    "-sdown",
    "+odown",
    "-odown",
    "+new-epoch",
    "+try-failover",
    "+vote-for-leader",
    "+elected-leader",
    "-failover-abort-not-elected",
    "+failover-state-select-slave",
    "-failover-abort-no-good-slave",
    "+selected-slave",
    "-failover-abort-slave-timeout",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+failover-end-for-timeout",
    "+failover-end",
    "+switch-master",
    "+config-update-from",
];

/// The timers `SENTINEL DEBUG` shows and changes (ms), in Redis's order.
#[derive(Debug, Clone)]
pub struct Timers {
    /// Name (lower case) and value.
    pub values: Vec<(&'static str, u64)>,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            values: vec![
                ("info-period", 10_000),
                ("ping-period", 1000),
                ("ask-period", 1000),
                ("publish-period", 2000),
                ("default-down-after", 30_000),
                ("default-failover-timeout", 180_000),
                ("tilt-trigger", 2000),
                ("tilt-period", 30_000),
                ("slave-reconf-timeout", 10_000),
                ("min-link-reconnect-period", 15_000),
                ("election-timeout", 10_000),
                ("script-max-runtime", 60_000),
                ("script-retry-delay", 30_000),
            ],
        }
    }
}

impl Timers {
    /// The value of timer `name`.
    pub fn get(&self, name: &str) -> u64 {
        self.values.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v)
    }
}

/// `SENTINEL SIMULATE-FAILURE` flags: exit(99) right after the named step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulate {
    /// After `+elected-leader`.
    pub crash_after_election: bool,
    /// After `+promoted-slave`.
    pub crash_after_promotion: bool,
}

struct LinkHandle {
    timing: Arc<link::Timing>,
    cancel: CancellationToken,
}

/// What a group's configuration came from, for the state file.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// Added with `SENTINEL MONITOR` (not in the configuration).
    pub added: Option<Added>,
    /// Options set with `SENTINEL SET`.
    pub options: BTreeMap<String, String>,
}

/// Everything the core task starts from.
pub struct Boot {
    /// This sentinel's id (40 hex).
    pub myid: String,
    /// The state folder.
    pub dir: std::path::PathBuf,
    /// The API port.
    pub port: u16,
    /// Global settings from the configuration.
    pub global: Global,
    /// Masters from the configuration.
    pub masters: Vec<MasterConfig>,
    /// The saved state.
    pub state: State,
    /// This sentinel's RESP API address as the others see it.
    pub api_addr: String,
    /// Sentinel groups: this sentinel's membership, and the peers' reports.
    pub group: Option<(crate::group::node::Group, mpsc::Receiver<crate::group::service::PeerReport>)>,
}

/// The core task's state.
pub struct Core {
    /// This sentinel's id (40 hex).
    pub myid: String,
    /// The API port.
    pub port: u16,
    /// Monitors by name.
    pub monitors: BTreeMap<String, Monitor>,
    /// The effective configuration of each group.
    pub configs: BTreeMap<String, MasterConfig>,
    /// What was changed at run time, per group.
    pub runtime: BTreeMap<String, Runtime>,
    /// Names of the groups of the configuration (file or flags): removing one is remembered.
    pub configured: BTreeSet<String>,
    /// Configured groups removed at run time.
    pub removed: BTreeSet<String>,
    /// Global settings.
    pub global: Global,
    /// Global settings changed at run time.
    pub global_set: BTreeMap<String, String>,
    /// `SENTINEL DEBUG` timers.
    pub timers: Timers,
    /// `SENTINEL SIMULATE-FAILURE` flags.
    pub simulate: Simulate,
    /// TILT state.
    pub tilt: Tilt,
    /// Script queue.
    pub scripts: Scripts,
    /// Last INFO text per (group, instance), with the time it arrived.
    pub info_cache: BTreeMap<(String, String), (u64, String)>,
    started: Instant,
    tx: mpsc::Sender<Msg>,
    events: broadcast::Sender<Published>,
    links: BTreeMap<(String, String), LinkHandle>,
    hellos: BTreeMap<String, Arc<std::sync::Mutex<link::Hello>>>,
    /// Sentinel groups: this sentinel's membership (None: alone).
    pub group: Option<crate::group::node::Group>,
    /// Sentinel groups: this sentinel leads.
    pub leading: bool,
    /// False while a group member that has just started has not caught up with the group: it
    /// then hands out no master address (always true alone).
    pub synced: bool,
    /// Sentinel groups: when each peer was last heard from.
    pub peer_seen: BTreeMap<u64, u64>,
    /// Sentinel groups: each peer's RESP API address, from its reports.
    pub peer_api: BTreeMap<u64, String>,
    /// This sentinel's RESP API address as the others see it.
    pub api_addr: String,
    /// What the state file held at start (known replicas per group).
    saved: BTreeMap<String, crate::state::Saved>,
    ticks: u64,
    /// Cancelled to stop the sentinel (SHUTDOWN, signals).
    pub shutdown: CancellationToken,
    dir: std::path::PathBuf,
}

/// Wall-clock milliseconds (TILT watches this clock).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Core {
    /// Milliseconds since start: the monitors' clock.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Announces an event on the sentinel's pub/sub (and logs it); a warning-level event about
    /// group `group` also runs its notification script.
    pub fn publish(&mut self, group: Option<&str>, event: &str, payload: String) {
        tracing::info!("{event} {payload}");
        if WARNING_EVENTS.contains(&event)
            && let Some(script) = group.and_then(|g| self.configs.get(g)).and_then(|c| c.notification_script.clone())
        {
            self.scripts.schedule(vec![script, event.to_string(), payload.clone()]);
        }
        let _ = self.events.send((event.to_string(), payload));
        let crash = match event {
            "+elected-leader" => self.simulate.crash_after_election,
            "+promoted-slave" => self.simulate.crash_after_promotion,
            _ => false,
        };
        if crash {
            tracing::warn!("SENTINEL SIMULATE-FAILURE: exiting after {event}");
            std::process::exit(99);
        }
    }

    fn auth(&self, name: &str) -> link::Auth {
        self.configs
            .get(name)
            .map(|c| link::Auth { user: c.auth_user.clone(), pass: c.auth_pass.clone() })
            .unwrap_or_default()
    }

    fn ping_ms(&self, name: &str) -> u64 {
        // As Redis: PING at least every ping period, and at least twice per down-after period,
        // so a reconnecting link is never judged down on a stale reply.
        let down_after = self.monitors.get(name).map_or(30_000, |m| m.params.down_after_ms);
        down_after.div_ceil(2).clamp(100, self.timers.get("ping-period").max(100))
    }

    fn open_link(&mut self, name: &str, addr: &str) {
        let key = (name.to_string(), addr.to_string());
        if self.links.contains_key(&key) {
            return;
        }
        let timing = Arc::new(link::Timing {
            info_ms: AtomicU64::new(self.timers.get("info-period")),
            ping_ms: AtomicU64::new(self.ping_ms(name)),
            publish_ms: AtomicU64::new(self.timers.get("publish-period")),
        });
        let cancel = self.shutdown.child_token();
        self.links.insert(key, LinkHandle { timing: timing.clone(), cancel: cancel.clone() });
        self.refresh_hello(name);
        let hello = self.hellos.entry(name.to_string()).or_default().clone();
        let l = Arc::new(link::Link {
            name: name.to_string(),
            addr: addr.to_string(),
            auth: self.auth(name),
            myid: self.myid.clone(),
            timing,
            hello,
            tx: self.tx.clone(),
        });
        tokio::spawn(link::run(l.clone(), cancel.clone()));
        tokio::spawn(link::pubsub(l, cancel));
    }

    /// Brings the hello of group `name` up to date with the monitor and the settings.
    fn refresh_hello(&mut self, name: &str) {
        let Some(m) = self.monitors.get(name) else { return };
        let now = link::Hello {
            announce_ip: self.global.announce_ip.clone(),
            port: if self.global.announce_port != 0 { self.global.announce_port } else { self.port },
            myid: self.myid.clone(),
            current_epoch: m.current_epoch,
            name: name.to_string(),
            master: m.current_addr().to_string(),
            config_epoch: m.config_epoch,
        };
        let slot = self.hellos.entry(name.to_string()).or_default();
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Closes the links of group `name` (all of them, or only those not to `keep`).
    fn close_links(&mut self, name: &str, keep: Option<&str>) {
        self.links.retain(|(n, a), h| {
            let close = n == name && keep.is_none_or(|k| k != a);
            if close {
                h.cancel.cancel();
            }
            !close
        });
        self.info_cache.retain(|(n, a), _| n != name || keep.is_some_and(|k| k == a));
        if keep.is_none() {
            self.hellos.remove(name);
        }
    }

    /// Opens the links of group `name` to its master and every known replica.
    fn open_links(&mut self, name: &str) {
        let Some(m) = self.monitors.get(name) else { return };
        let mut addrs = m.replicas();
        addrs.push(m.master.clone());
        for a in addrs {
            self.open_link(name, &a);
        }
    }

    /// Carries out a monitor's actions.
    pub fn run_actions(&mut self, name: &str, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Publish(event, payload) => {
                    // A master's SDOWN change reaches the other sentinels at once, not at the
                    // next periodic report: ODOWN, hence the failover, starts a second earlier.
                    let master_changed = matches!(event, "+sdown" | "-sdown") && payload.starts_with("master ");
                    self.publish(Some(name), event, payload);
                    if master_changed {
                        self.send_reports();
                    }
                }
                Action::Connect(addr) => self.open_link(name, &addr),
                Action::PauseWrites(addr, ms) => {
                    tokio::spawn(reconf::pause_writes(name.to_string(), addr, ms, self.auth(name), self.tx.clone()));
                }
                Action::Promote(addr) => {
                    let t = reconf::send_transaction(name.to_string(), addr, None, self.auth(name), self.tx.clone());
                    tokio::spawn(t);
                }
                Action::Reconfigure(addr, to) => {
                    let t =
                        reconf::send_transaction(name.to_string(), addr, Some(to), self.auth(name), self.tx.clone());
                    tokio::spawn(t);
                }
                Action::ClientReconfig(from, to) => {
                    if let Some(script) = self.configs.get(name).and_then(|c| c.client_reconfig_script.clone()) {
                        let (fip, fport) = split(&from);
                        let (tip, tport) = split(&to);
                        let argv = [name, "leader", "start", fip, fport, tip, tport].map(str::to_string);
                        self.scripts.schedule([vec![script], argv.to_vec()].concat());
                    }
                }
                Action::ProposeFailover(epoch, master) => self.propose_failover(name, master, epoch),
                Action::ProposeSwitch(addr, epoch) => self.propose_switch(name, addr, epoch),
                Action::ProposeReplicas(addrs) => self.propose_replicas(name, addrs),
                Action::Save => {
                    if let Err(e) = self.save() {
                        tracing::warn!("cannot save the state in {}: {e}", self.dir.display());
                    }
                }
            }
        }
    }

    /// Writes the state file (see [`crate::state`]).
    pub fn save(&self) -> std::io::Result<()> {
        let mut st = State { config: self.global_set.clone(), removed: self.removed.clone(), ..State::default() };
        for m in self.monitors.values() {
            let rt = self.runtime.get(&m.name).cloned().unwrap_or_default();
            st.masters.insert(
                m.name.clone(),
                crate::state::Saved {
                    monitor: rt.added,
                    options: rt.options,
                    master: m.master.clone(),
                    config_epoch: m.config_epoch,
                    current_epoch: m.current_epoch,
                    replicas: m.replicas(),
                },
            );
        }
        crate::state::save(&self.dir, &st)
    }

    /// Runs a monitor step and executes its actions.
    pub fn step(&mut self, name: &str, event: Event) {
        let now = self.now();
        let Some(m) = self.monitors.get_mut(name) else { return };
        let actions = m.step(now, event);
        // Keep each link's INFO period in line with the monitor's wishes.
        for ((n, addr), h) in &self.links {
            if n == name {
                h.timing.info_ms.store(m.info_period_ms(addr), Ordering::Relaxed);
            }
        }
        self.run_actions(name, actions);
        self.refresh_hello(name);
    }

    fn on_timer(&mut self) {
        match self.tilt.tick(wall_ms()) {
            Some(Change::Entered) => {
                self.publish(None, "+tilt", "#tilt mode entered".into());
                let names: Vec<String> = self.monitors.keys().cloned().collect();
                for n in names {
                    self.step(&n, Event::Tilt(true));
                }
            }
            Some(Change::Exited) => {
                self.publish(None, "-tilt", "#tilt mode exited".into());
                let names: Vec<String> = self.monitors.keys().cloned().collect();
                for n in names {
                    self.step(&n, Event::Tilt(false));
                }
            }
            None => {}
        }
        let names: Vec<String> = self.monitors.keys().cloned().collect();
        for n in names {
            self.step(&n, Event::Tick);
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(10) {
            self.send_reports();
        }
    }

    /// Starts monitoring a group: its monitor, its links, `+monitor`.
    fn add_group(&mut self, cfg: MasterConfig, saved: Option<&crate::state::Saved>) {
        let now = self.now();
        let mut monitor = Monitor::new(&cfg.name, cfg.addr.clone(), cfg.params, now);
        // What a previous run learnt wins: after a failover the configured address is the old
        // master.
        if let Some(s) = saved.filter(|s| !s.master.is_empty()) {
            monitor.restore(s.master.clone(), s.config_epoch, s.current_epoch, &s.replicas, now);
            tracing::info!(name = %cfg.name, master = %s.master, epoch = s.config_epoch, "resumed from the state file");
        }
        if self.tilt.active() {
            monitor.step(now, Event::Tilt(true));
        }
        let (ip, port) = split(&monitor.master);
        let payload = format!("master {} {ip} {port} quorum {}", cfg.name, cfg.params.quorum);
        let name = cfg.name.clone();
        self.monitors.insert(name.clone(), monitor);
        self.configs.insert(name.clone(), cfg);
        self.open_links(&name);
        self.publish(Some(&name), "+monitor", payload);
    }
}

/// Builds the core from the configuration and the saved state, and starts its task; returns
/// its inbox, the event feed and the task.
pub fn start(
    boot: Boot,
    shutdown: CancellationToken,
) -> (mpsc::Sender<Msg>, broadcast::Sender<Published>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4096);
    let (events, _) = broadcast::channel(1024);
    let mut global = boot.global;
    for (k, v) in &boot.state.config {
        if let Err(e) = global.set(k, v, false) {
            tracing::warn!("state file: ignoring '{k}': {e}");
        }
    }
    let mut core = Core {
        myid: boot.myid,
        port: boot.port,
        monitors: BTreeMap::new(),
        configs: BTreeMap::new(),
        runtime: BTreeMap::new(),
        configured: boot.masters.iter().map(|m| m.name.clone()).collect(),
        removed: boot.state.removed.clone(),
        global,
        global_set: boot.state.config.clone(),
        timers: Timers::default(),
        simulate: Simulate::default(),
        tilt: Tilt::new(),
        scripts: Scripts::start(events.clone(), shutdown.clone()),
        info_cache: BTreeMap::new(),
        started: Instant::now(),
        tx: tx.clone(),
        events: events.clone(),
        links: BTreeMap::new(),
        hellos: BTreeMap::new(),
        group: None,
        leading: false,
        synced: true,
        peer_seen: BTreeMap::new(),
        peer_api: BTreeMap::new(),
        api_addr: boot.api_addr,
        saved: boot.state.masters.clone(),
        ticks: 0,
        shutdown: shutdown.clone(),
        dir: boot.dir,
    };
    if let Some((group, reports)) = boot.group {
        // In a group the masters are the group's: the configured ones are proposed, and
        // monitors follow the replicated state (see `group`).
        group::forward(&group, reports, tx.clone(), shutdown.clone());
        core.group = Some(group);
        core.synced = false;
        core.propose_configured(boot.masters);
        let handle = tokio::spawn(run(core, rx));
        return (tx, events, handle);
    }
    let mut groups: Vec<MasterConfig> = boot.masters.into_iter().filter(|m| !core.removed.contains(&m.name)).collect();
    for (name, s) in &boot.state.masters {
        if let Some(added) = &s.monitor
            && !groups.iter().any(|g| g.name == *name)
        {
            groups.push(MasterConfig::new(name, added.addr.clone(), added.quorum));
        }
    }
    for mut cfg in groups {
        let saved = boot.state.masters.get(&cfg.name);
        let mut rt = Runtime::default();
        if let Some(s) = saved {
            rt.added = s.monitor.clone();
            for (k, v) in &s.options {
                match crate::config::set_master_option(&mut cfg, k, v) {
                    Ok(()) => {
                        rt.options.insert(k.clone(), v.clone());
                    }
                    Err(e) => tracing::warn!(name = %cfg.name, "state file: ignoring option '{k}': {e}"),
                }
            }
        }
        core.runtime.insert(cfg.name.clone(), rt);
        core.add_group(cfg, saved);
    }
    let handle = tokio::spawn(run(core, rx));
    (tx, events, handle)
}

async fn run(mut core: Core, mut rx: mpsc::Receiver<Msg>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => {
                // The last view goes to disk on the way out (SHUTDOWN, SIGTERM, Ctrl-C).
                if let Err(e) = core.save() {
                    tracing::warn!("cannot save the state on shutdown: {e}");
                }
                return;
            }
            _ = tick.tick() => core.on_timer(),
            msg = rx.recv() => match msg {
                None => return,
                Some(Msg::Link(name, event)) => core.step(&name, event),
                // A link of a group removed meanwhile may still report: nothing to cache.
                Some(Msg::Info(name, addr, text)) if core.monitors.contains_key(&name) => {
                    let parsed = info::parse(&text);
                    let now = core.now();
                    core.info_cache.insert((name.clone(), addr.clone()), (now, text));
                    core.step(&name, Event::Info(addr, parsed));
                }
                Some(Msg::Info(..)) => {}
                Some(Msg::GroupState(state)) => core.on_group_state(state),
                Some(Msg::Leader(leads)) => core.on_leader(leads),
                Some(Msg::Report(r)) => core.on_report(r),
                Some(Msg::Synced) => {
                    tracing::info!("caught up with the sentinel group: answering clients");
                    core.synced = true;
                }
                Some(Msg::Api(req)) if crate::api::sentinel::membership_change(&core, &req.args).is_some() => {
                    match (crate::api::sentinel::membership_change(&core, &req.args), core.group.clone()) {
                        (Some(Ok((add, addr))), Some(g)) => {
                            tokio::spawn(async move {
                                let r = if add { g.add_member(&addr).await } else { g.remove_member(&addr).await };
                                tracing::info!(add, %addr, ok = r.is_ok(), "sentinel group membership change");
                                let reply = match r {
                                    Ok(_) => Frame::simple("OK"),
                                    Err(e) => Frame::error(format!("ERR {e}")),
                                };
                                let _ = req.reply.send(reply);
                            });
                        }
                        (Some(Err(f)), _) => {
                            let _ = req.reply.send(f);
                        }
                        _ => {
                            let _ = req.reply.send(Frame::error("ERR this sentinel is not in a group"));
                        }
                    }
                }
                Some(Msg::Api(req)) => match (crate::api::sentinel::proposal(&core, &req.args), core.group.clone()) {
                    (Some(Ok(cmd)), Some(g)) => {
                        // Committed by the group, then applied here like everywhere else.
                        tokio::spawn(async move {
                            let _ = req.reply.send(group::reply(g.propose(cmd).await));
                        });
                    }
                    (Some(Err(refused)), _) => {
                        let _ = req.reply.send(refused);
                    }
                    _ => {
                        let reply = crate::api::answer(&mut core, &req.args);
                        let _ = req.reply.send(reply);
                    }
                },
            }
        }
    }
}
