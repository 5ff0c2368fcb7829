//! Everything one sentinel decides about one monitored master, as a pure state machine:
//! `step(now, event) -> actions`.
//!
//! It composes the pieces: a [`Detector`] per instance (SDOWN), ODOWN from the quorum, the start
//! of a failover with a new epoch, replica [`select`]ion, and the [`Failover`] state machine.
//! Replicas are discovered from the master's INFO. The driver owns the links: it reports what
//! happens ([`Event`]) and carries out [`Action`]s.
//!
//! Alone (a Redis deployment with one sentinel and quorum 1 is legal) this sentinel's vote is the
//! only one and it always leads. In a sentinel group ([`super::agree`]) the peers' reports add
//! votes, only the group's leader starts a failover, and only once the group has committed the
//! start; the failover itself is the same.

use std::collections::BTreeMap;

use super::agree::{Agreement, Pending, Report};
use super::detect::{self, Detector, PingReply, Transition};
use super::failover::{self, Addr, Failover, Output};
use super::select::{self, Candidate, Limits};
use crate::info::{Info, Role};

/// Timing and policy of one monitored master (Redis's per-master options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// down-after-milliseconds.
    pub down_after_ms: u64,
    /// failover-timeout.
    pub failover_timeout_ms: u64,
    /// parallel-syncs.
    pub parallel_syncs: usize,
    /// quorum.
    pub quorum: usize,
    /// PING period.
    pub ping_period_ms: u64,
    /// INFO period.
    pub info_period_ms: u64,
    /// master-reboot-down-after-period (0: off).
    pub reboot_down_after_ms: u64,
    /// Slave reconf timeout (10 s).
    pub reconf_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            down_after_ms: 30_000,
            failover_timeout_ms: 180_000,
            parallel_syncs: 1,
            quorum: 1,
            ping_period_ms: 1000,
            info_period_ms: 10_000,
            reboot_down_after_ms: 0,
            reconf_timeout_ms: 10_000,
        }
    }
}

/// What happened on an instance's link.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The command link connected.
    Connected(Addr),
    /// The command link dropped.
    Disconnected(Addr),
    /// A PING went out.
    PingSent(Addr),
    /// A PING reply came back.
    Ping(Addr, PingReply),
    /// An INFO reply came back.
    Info(Addr, Info),
    /// The promotion transaction was sent to this replica.
    PromotionSent(Addr),
    /// Writes are paused on the master, whose stream ends at this offset.
    MasterPaused(u64),
    /// The sentinel entered (true) or left (false) TILT: while in TILT nothing is judged down
    /// and nothing is acted on (see [`super::tilt`]).
    Tilt(bool),
    /// A peer sentinel's report about this group (sentinel groups).
    PeerReport {
        /// The peer's id.
        from: u64,
        /// The master address it reported about.
        addr: Addr,
        /// Down in its view.
        sdown: bool,
    },
    /// This sentinel became (true) or stopped being (false) the group's leader.
    Leader(bool),
    /// The group committed (true) or refused (false) the failover start in `epoch`.
    FailoverCommitted {
        /// The epoch proposed.
        epoch: u64,
        /// Committed?
        ok: bool,
    },
    /// The group's record of this master: its address, config epoch, the epoch of the last
    /// failover started, and the instances the group knows besides the master (applied on
    /// every member).
    Group {
        /// The master.
        addr: Addr,
        /// Its config epoch.
        config_epoch: u64,
        /// The last failover epoch.
        failover_epoch: u64,
        /// The instances the group knows besides the master: replicas a leader discovered,
        /// and former masters.
        replicas: Vec<Addr>,
    },
    /// Time passes.
    Tick,
}

/// What the driver must do or announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish an event on the sentinel's pub/sub (`+sdown`, `+switch-master`, ...).
    Publish(&'static str, String),
    /// Open links to a newly discovered instance.
    Connect(Addr),
    /// Send the promotion transaction to this replica.
    Promote(Addr),
    /// Pause writes on this master for this many ms, then report its offset
    /// ([`Event::MasterPaused`]); graceful failover.
    PauseWrites(Addr, u64),
    /// Re-point this replica to the new master.
    Reconfigure(Addr, Addr),
    /// Persist the state (epochs, master address, replicas).
    Save,
    /// Run the client-reconfig-script: the master moves `from` -> `to` (this sentinel leads).
    ClientReconfig(Addr, Addr),
    /// Sentinel groups: propose the start of a failover of this master in this config epoch
    /// (the fencing token); the answer comes back as [`Event::FailoverCommitted`]. The group
    /// refuses it if its master is no longer this one.
    ProposeFailover(u64, Addr),
    /// Sentinel groups: propose the switch to this master in this config epoch.
    ProposeSwitch(Addr, u64),
    /// Sentinel groups (the leader): record these instances in the group's state, so that
    /// every member monitors them.
    ProposeReplicas(Vec<Addr>),
}

/// What the API reports of one instance.
#[derive(Debug, Clone)]
pub struct InstanceStatus {
    /// The last INFO.
    pub info: Info,
    /// Its age.
    pub info_age_ms: Option<u64>,
    /// How long it has been SDOWN, if it is.
    pub sdown_ms: Option<u64>,
    /// Command link up.
    pub connected: bool,
    /// Time since the last valid PING reply.
    pub since_reply_ms: u64,
    /// Time since the last reply of any kind.
    pub since_any_reply_ms: u64,
    /// How long the oldest unanswered PING has been pending (0: none).
    pub ping_pending_ms: u64,
    /// Time since the reported role last changed.
    pub role_reported_ms: u64,
}

#[derive(Debug, Clone)]
struct Instance {
    detector: Detector,
    info: Info,
    info_at: Option<u64>,
    last_reply_at: u64,
    last_any_reply_at: u64,
    role_changed_at: u64,
    connected: bool,
    /// Last steady-state fix sent to it.
    last_fix_at: Option<u64>,
}

/// One monitored master and its replicas, as this sentinel sees them.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// The group's name.
    pub name: String,
    /// The current master.
    pub master: Addr,
    /// Policy.
    pub params: Params,
    /// The master's config epoch.
    pub config_epoch: u64,
    /// This sentinel's current epoch.
    pub current_epoch: u64,
    instances: BTreeMap<Addr, Instance>,
    odown: bool,
    failover: Failover,
    last_failover_start: Option<u64>,
    /// The config epoch of the last switch the group committed, and the master it names
    /// (group mode).
    group_switch_epoch: u64,
    group_master: Option<Addr>,
    /// The instances the group listed besides the master, when it last told us (group mode);
    /// `None` before it told us anything.
    group_replicas: Option<Vec<Addr>>,
    /// The instances this sentinel last proposed to record in the group, and when.
    replicas_proposed: Option<(Vec<Addr>, u64)>,
    tilt: bool,
    /// The sentinel this one voted for as failover leader, and the vote's epoch.
    leader: Option<(String, u64)>,
    /// How this sentinel agrees with others (alone, or in a group).
    pub agreement: Agreement,
    /// In a group: a failover was started (its epoch committed) and its switch is not yet.
    group_failover_pending: bool,
    /// The group's failover epoch, and since when it has been started but not switched.
    group_failover_epoch: u64,
    group_failover_since: u64,
    /// A failover waiting for an eligible replica until then.
    select_until: Option<u64>,
    /// The epoch of the failover this sentinel is running.
    acting_epoch: Option<u64>,
}

/// How long an automatic failover keeps looking for an eligible replica (ms): two of the
/// one-second INFO refreshes of the replicas.
pub const SELECT_GRACE_MS: u64 = 2500;

/// `ip:port` split into its two parts.
pub fn split(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap_or((addr, "0"))
}

impl Monitor {
    /// Starts monitoring `master` at `now`.
    pub fn new(name: &str, master: Addr, params: Params, now: u64) -> Monitor {
        let fparams = failover::Params {
            failover_timeout_ms: params.failover_timeout_ms,
            parallel_syncs: params.parallel_syncs,
            reconf_timeout_ms: params.reconf_timeout_ms,
        };
        let mut m = Monitor {
            name: name.to_string(),
            master: master.clone(),
            params,
            config_epoch: 0,
            current_epoch: 0,
            instances: BTreeMap::new(),
            odown: false,
            failover: Failover::new(name, fparams),
            last_failover_start: None,
            group_switch_epoch: 0,
            group_master: None,
            group_replicas: None,
            replicas_proposed: None,
            tilt: false,
            leader: None,
            agreement: Agreement::Alone,
            group_failover_pending: false,
            group_failover_epoch: 0,
            group_failover_since: 0,
            select_until: None,
            acting_epoch: None,
        };
        m.add(master, now);
        m
    }

    fn detect_params(&self) -> detect::Params {
        detect::Params {
            down_after_ms: self.params.down_after_ms,
            info_period_ms: self.params.info_period_ms,
            reboot_down_after_ms: self.params.reboot_down_after_ms,
        }
    }

    /// Changes the policy (`SENTINEL SET`, `SENTINEL DEBUG`): every detector and the failover
    /// state machine use the new values from now on.
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
        let dp = self.detect_params();
        for i in self.instances.values_mut() {
            i.detector.set_params(dp);
        }
        self.failover.params = failover::Params {
            failover_timeout_ms: params.failover_timeout_ms,
            parallel_syncs: params.parallel_syncs,
            reconf_timeout_ms: params.reconf_timeout_ms,
        };
    }

    fn add(&mut self, addr: Addr, now: u64) {
        let dp = self.detect_params();
        self.instances.entry(addr).or_insert_with(|| Instance {
            detector: Detector::new(dp, now),
            info: Info::default(),
            info_at: None,
            last_reply_at: now,
            last_any_reply_at: now,
            role_changed_at: now,
            connected: false,
            last_fix_at: None,
        });
    }

    /// Restores what a previous run learnt: the current master, the epochs, the replicas.
    pub fn restore(&mut self, master: String, config_epoch: u64, current_epoch: u64, replicas: &[String], now: u64) {
        if master != self.master {
            self.add(master.clone(), now);
            self.master = master;
        }
        self.config_epoch = config_epoch;
        self.current_epoch = current_epoch;
        for r in replicas {
            self.add(r.clone(), now);
        }
    }

    /// The replicas known, by address.
    pub fn replicas(&self) -> Vec<Addr> {
        self.instances.keys().filter(|a| **a != self.master).cloned().collect()
    }

    /// Is the instance at `addr` subjectively down?
    pub fn is_sdown(&self, addr: &str) -> bool {
        self.instances.get(addr).is_some_and(|i| i.detector.is_down())
    }

    /// Is the master objectively down?
    pub fn is_odown(&self) -> bool {
        self.odown
    }

    /// The address clients should use: the promoted replica as soon as its promotion has been
    /// observed (as Redis answers GET-MASTER-ADDR-BY-NAME), else the master.
    pub fn current_addr(&self) -> &str {
        match &self.failover.state {
            failover::State::ReconfReplicas { promoted, .. } => promoted,
            _ => &self.master,
        }
    }

    /// The failover state's name, as SENTINEL MASTER reports it, if one is in progress.
    pub fn failover_state(&self) -> Option<&'static str> {
        match self.failover.state {
            failover::State::Idle => None,
            failover::State::SelectReplica { .. } => Some("select_slave"),
            failover::State::WaitReplicaSync { .. } => Some("wait_replica_sync"),
            failover::State::SendPromotion { .. } => Some("send_slaveof_noone"),
            failover::State::WaitPromotion { .. } => Some("wait_promotion"),
            failover::State::ReconfReplicas { .. } => Some("reconf_slaves"),
        }
    }

    /// The last INFO and its age, the SDOWN state and the link state of an instance.
    pub fn instance(&self, addr: &str, now: u64) -> Option<InstanceStatus> {
        let i = self.instances.get(addr)?;
        Some(InstanceStatus {
            info: i.info.clone(),
            info_age_ms: i.info_at.map(|t| now.saturating_sub(t)),
            sdown_ms: i.detector.is_down().then(|| i.detector.down_for(now)),
            connected: i.connected,
            since_reply_ms: now.saturating_sub(i.last_reply_at),
            since_any_reply_ms: now.saturating_sub(i.last_any_reply_at),
            ping_pending_ms: i.detector.ping_pending_for(now),
            role_reported_ms: now.saturating_sub(i.role_changed_at),
        })
    }

    /// In TILT?
    pub fn in_tilt(&self) -> bool {
        self.tilt
    }

    /// `SENTINEL RESET`: forgets the replicas, aborts a failover in progress, clears the ODOWN
    /// state and allows a new failover at once. The master's link state is kept; replicas are
    /// rediscovered from its next INFO (the driver asks for one at once).
    pub fn reset(&mut self, now: u64) {
        let master = self.master.clone();
        self.instances.retain(|a, _| *a == master);
        let fparams = self.failover.params;
        self.failover = Failover::new(&self.name, fparams);
        self.odown = false;
        self.last_failover_start = None;
        let dp = self.detect_params();
        if let Some(i) = self.instances.get_mut(&master) {
            let connected = i.connected;
            i.detector = Detector::new(dp, now);
            i.detector.link(connected);
        }
    }

    /// Answers a vote request (`SENTINEL IS-MASTER-DOWN-BY-ADDR ... <epoch> <runid>`) with
    /// Redis Sentinel's voter rule: adopt a higher epoch; grant one vote per epoch, to the first
    /// candidate asking in it; after voting for someone else, wait 2 x failover-timeout before
    /// trying ourselves. Returns the vote now held (runid, epoch).
    pub fn vote(&mut self, now: u64, epoch: u64, runid: &str, myid: &str, out: &mut Vec<Action>) -> (String, u64) {
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            out.push(Action::Publish("+new-epoch", epoch.to_string()));
            out.push(Action::Save);
        }
        let held = self.leader.as_ref().map_or(0, |(_, e)| *e);
        if held < epoch && self.current_epoch <= epoch {
            self.leader = Some((runid.to_string(), epoch));
            out.push(Action::Publish("+vote-for-leader", format!("{runid} {epoch}")));
            out.push(Action::Save);
            if runid != myid {
                self.last_failover_start = Some(now);
            }
        }
        self.leader.clone().unwrap_or_else(|| ("*".into(), 0))
    }

    /// Is a failover in progress?
    pub fn failover_in_progress(&self) -> bool {
        self.failover.state != failover::State::Idle
    }

    /// The INFO period to use for `addr` now (faster for replicas during a failover).
    pub fn info_period_ms(&self, addr: &str) -> u64 {
        // As Redis, replicas are asked every second while their master is down or failing over,
        // or while they report their link to it down: selection needs INFO under 5 s old.
        let link_down = self.instances.get(addr).is_some_and(|i| i.info_at.is_some() && !i.info.master_link_up);
        let master_down = self.odown || self.is_sdown(&self.master);
        if addr != self.master && (master_down || self.failover_in_progress() || link_down) {
            1000
        } else {
            self.params.info_period_ms
        }
    }

    fn instance_label(&self, addr: &str) -> String {
        let (ip, port) = split(addr);
        let kind = if addr == self.master { "master" } else { "slave" };
        let (mip, mport) = split(&self.master);
        if kind == "master" {
            format!("master {} {ip} {port}", self.name)
        } else {
            format!("slave {addr} {ip} {port} @ {} {mip} {mport}", self.name)
        }
    }

    /// Feeds one event at time `now`; returns what to do.
    pub fn step(&mut self, now: u64, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Connected(a) => {
                if let Some(i) = self.instances.get_mut(&a) {
                    i.connected = true;
                    i.detector.link(true);
                }
                // A promotion that could not go out (the replica's link was down) is sent again.
                if self.failover.promotion_pending() == Some(a.as_str()) && !self.tilt {
                    out.push(Action::Promote(a));
                }
            }
            Event::Disconnected(a) => {
                if let Some(i) = self.instances.get_mut(&a) {
                    i.connected = false;
                    i.detector.link(false);
                }
            }
            Event::PingSent(a) => {
                if let Some(i) = self.instances.get_mut(&a) {
                    i.detector.ping_sent(now);
                }
            }
            Event::Ping(a, reply) => {
                if let Some(i) = self.instances.get_mut(&a) {
                    i.detector.ping_reply(reply, now);
                    i.last_any_reply_at = now;
                    if reply != PingReply::Other {
                        i.last_reply_at = now;
                    }
                }
            }
            Event::Info(a, info) => self.on_info(now, a, info, &mut out),
            Event::MasterPaused(offset) => self.failover.master_paused_at(offset),
            Event::PromotionSent(_) => {
                let outputs = self.failover.promotion_sent(now);
                self.apply(outputs, &mut out);
            }
            Event::Tilt(on) => self.tilt = on,
            Event::PeerReport { from, addr, sdown } => self.agreement.report(from, Report { at: now, addr, sdown }),
            Event::Leader(is) => {
                self.agreement.set_leader(is);
                self.fence(None, &mut out);
            }
            Event::FailoverCommitted { epoch, ok } => self.on_committed(now, epoch, ok, &mut out),
            Event::Group { addr, config_epoch, failover_epoch, replicas } => {
                self.learn_group_replicas(now, &addr, replicas, &mut out);
                self.on_group(now, addr, config_epoch, failover_epoch, &mut out)
            }
            Event::Tick => {}
        }
        self.evaluate(now, &mut out);
        self.share_replicas(now, &mut out);
        out
    }

    fn on_info(&mut self, now: u64, addr: Addr, info: Info, out: &mut Vec<Action>) {
        let is_master_addr = addr == self.master;
        if is_master_addr && info.role == Role::Master {
            for r in &info.replicas {
                let ra = format!("{}:{}", r.ip, r.port);
                if !self.instances.contains_key(&ra) {
                    self.add(ra.clone(), now);
                    out.push(Action::Publish("+slave", self.instance_label(&ra)));
                    out.push(Action::Connect(ra));
                    out.push(Action::Save);
                }
            }
        }
        let follows = match (&info.master_host, info.master_port) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            _ => None,
        };
        let is_master = info.role == Role::Master;
        let link_up = info.master_link_up;
        let offset = info.repl_offset;
        let mut announce = Vec::new();
        if let Some(i) = self.instances.get_mut(&addr) {
            // Rule (b) applies to the master only: an instance that is no longer our master (the
            // old master after a failover) must not carry a stale "wrong role" clock.
            i.detector.role_mismatch(is_master_addr && info.role == Role::Replica, now);
            // A changed run id is a restart (`+reboot`); with master-reboot-down-after-period
            // set, a rebooted master that only answers LOADING is judged down.
            if i.info.run_id.is_some() && info.run_id.is_some() && i.info.run_id != info.run_id {
                i.detector.rebooted(now);
                announce.push("+reboot");
            }
            // As Redis, an instance starts with the role we expect of it, so a first INFO that
            // contradicts it is a role change too.
            let expected = if is_master_addr { Role::Master } else { Role::Replica };
            let before = if i.info_at.is_some() { i.info.role } else { expected };
            if before != info.role && info.role != Role::Unknown {
                i.role_changed_at = now;
                announce.push(if is_master == is_master_addr { "+role-change" } else { "-role-change" });
            }
            i.info = info;
            i.info_at = Some(now);
        }
        for event in announce {
            let label = self.instance_label(&addr);
            if event == "+reboot" {
                out.push(Action::Publish(event, label));
            } else {
                let role = if is_master { "master" } else { "slave" };
                out.push(Action::Publish(event, format!("{label} new reported role is {role}")));
            }
        }
        if self.tilt {
            return; // observations are recorded, but nothing is acted on in TILT
        }
        let others = self.replicas();
        let outputs = self.failover.replica_info(&addr, is_master, follows.as_deref(), link_up, offset, &others, now);
        self.apply(outputs, out);
        self.reconcile(now, &addr, is_master, follows.as_deref(), out);
    }

    /// Steady-state fixes (not during a failover, and only while our master looks sane): a
    /// replica that claims to be a master — typically the old master coming back — is turned
    /// into a replica (`+convert-to-slave`); a replica following another master is re-pointed
    /// (`+fix-slave-config`). At most one attempt per instance every 4 s.
    fn reconcile(&mut self, now: u64, addr: &str, is_master: bool, follows: Option<&str>, out: &mut Vec<Action>) {
        if addr == self.master || self.failover_in_progress() || self.odown || self.is_sdown(&self.master.clone()) {
            return;
        }
        // In a group only the leader fixes instances, and nobody while the group has a failover
        // started but not switched (its promoted replica would look like a rogue master).
        // A started failover that never switched (aborted, or its leader died) stops counting
        // after failover-timeout, which bounds every failover.
        let group_failover_running = self.group_failover_pending
            && now.saturating_sub(self.group_failover_since) < self.params.failover_timeout_ms;
        if !self.agreement.leads() || group_failover_running {
            return;
        }
        let master_sane = self
            .instances
            .get(&self.master)
            .is_some_and(|m| m.info.role == Role::Master && m.info_at.is_some_and(|t| now.saturating_sub(t) < 20_000));
        if !master_sane {
            return;
        }
        let event = if is_master {
            "+convert-to-slave"
        } else if follows.is_some_and(|f| f != self.master) {
            "+fix-slave-config"
        } else {
            return;
        };
        let Some(i) = self.instances.get_mut(addr) else { return };
        if i.last_fix_at.is_some_and(|t| now.saturating_sub(t) < 4000) {
            return;
        }
        i.last_fix_at = Some(now);
        out.push(Action::Publish(event, self.instance_label(addr)));
        out.push(Action::Reconfigure(addr.to_string(), self.master.clone()));
    }

    fn evaluate(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.tilt {
            return;
        }
        let addrs: Vec<Addr> = self.instances.keys().cloned().collect();
        for a in addrs {
            let t = self.instances.get_mut(&a).and_then(|i| i.detector.tick(now));
            match t {
                Some(Transition::Down) => out.push(Action::Publish("+sdown", self.instance_label(&a))),
                Some(Transition::Up) => out.push(Action::Publish("-sdown", self.instance_label(&a))),
                None => {}
            }
        }
        // ODOWN: this sentinel's vote, plus the fresh reports of its peers in a group.
        let master = self.master.clone();
        let votes = usize::from(self.is_sdown(&master)) + self.agreement.peer_votes(now, &master);
        let odown = votes >= self.params.quorum && votes > 0;
        if odown != self.odown {
            self.odown = odown;
            let label = self.instance_label(&self.master.clone());
            if odown {
                out.push(Action::Publish("+odown", format!("{label} #quorum {votes}/{}", self.params.quorum)));
            } else {
                out.push(Action::Publish("-odown", label));
            }
        }
        let may_start =
            self.last_failover_start.is_none_or(|t| now.saturating_sub(t) >= 2 * self.params.failover_timeout_ms);
        if self.odown && !self.failover_in_progress() && may_start && self.agreement.pending().is_none() {
            self.start_failover(now, out);
        }
        // A proposed start that is neither committed nor refused in time is dropped (the leader
        // lost its majority); the next attempt waits 2 x failover-timeout as usual.
        if let Some(p) = self.agreement.pending()
            && now.saturating_sub(p.since) > self.params.failover_timeout_ms.min(10_000)
        {
            self.agreement.set_pending(None);
            out.push(Action::Publish("-failover-abort-not-elected", self.instance_label(&master)));
        }
        let health = failover::Health {
            down: self.instances.iter().filter(|(_, i)| i.detector.is_down()).map(|(a, _)| a.clone()).collect(),
            disconnected: self.instances.iter().filter(|(_, i)| !i.connected).map(|(a, _)| a.clone()).collect(),
        };
        self.retry_selection(now, out);
        let outputs = self.failover.tick(now, &health);
        self.apply(outputs, out);
    }

    /// A manual failover (`SENTINEL FAILOVER`). When the master is up it is graceful: writes are
    /// paused on it, the chosen replica catches up to its offset, and only then is it promoted,
    /// so no acknowledged write is lost (Redis Sentinel's manual failover loses them). A master
    /// that is down is failed over as usual.
    pub fn manual_failover(&mut self, now: u64, out: &mut Vec<Action>) {
        let master = self.master.clone();
        let up = self.instances.get(&master).is_some_and(|i| i.connected && !i.detector.is_down());
        self.try_failover(now, up.then_some(master), true, out);
    }

    /// Starts a failover now: a new epoch; alone this sentinel is the leader at once, in a group
    /// it is once the group has committed the start.
    pub fn start_failover(&mut self, now: u64, out: &mut Vec<Action>) {
        self.try_failover(now, None, false, out);
    }

    fn try_failover(&mut self, now: u64, graceful: Option<Addr>, manual: bool, out: &mut Vec<Action>) {
        if !self.agreement.leads() {
            return; // in a group, only the leader tries
        }
        self.current_epoch += 1;
        self.last_failover_start = Some(now);
        let label = self.instance_label(&self.master.clone());
        out.push(Action::Publish("+new-epoch", self.current_epoch.to_string()));
        out.push(Action::Publish("+try-failover", label));
        out.push(Action::Save);
        if self.agreement.in_group() {
            let epoch = self.current_epoch;
            self.agreement.set_pending(Some(Pending { epoch, since: now, graceful, manual }));
            out.push(Action::ProposeFailover(epoch, self.master.clone()));
            return;
        }
        self.begin_failover(now, graceful, manual, out);
    }

    /// The group answered a proposed failover start.
    fn on_committed(&mut self, now: u64, epoch: u64, ok: bool, out: &mut Vec<Action>) {
        let Some(p) = self.agreement.pending().cloned().filter(|p| p.epoch == epoch) else { return };
        self.agreement.set_pending(None);
        if !ok || !self.agreement.leads() {
            out.push(Action::Publish("-failover-abort-not-elected", self.instance_label(&self.master.clone())));
            return;
        }
        self.begin_failover(now, p.graceful, p.manual, out);
    }

    /// Instances the group lists for this master that this sentinel has never seen it list
    /// (typically an old master, switched away from while this sentinel was down, or before it
    /// joined) are monitored from now on, so that the leader converts them when they return.
    /// Only additions count: a local `SENTINEL RESET` stays in force until the group lists the
    /// instance again.
    fn learn_group_replicas(&mut self, now: u64, master: &str, replicas: Vec<Addr>, out: &mut Vec<Action>) {
        let listed = self.group_replicas.take().unwrap_or_default();
        for r in &replicas {
            if r != master && !listed.contains(r) && !self.instances.contains_key(r) {
                self.add(r.clone(), now);
                out.push(Action::Connect(r.clone()));
                out.push(Action::Save);
            }
        }
        self.group_replicas = Some(replicas);
    }

    /// The leader records in the group the instances it knows and the group does not list
    /// (replicas discovered from INFO), again after 5 s if the group still does not list them.
    fn share_replicas(&mut self, now: u64, out: &mut Vec<Action>) {
        let Some(listed) = self.group_replicas.as_ref().filter(|_| self.agreement.leads()) else { return };
        let group_master = self.group_master.as_ref();
        let missing: Vec<Addr> = self
            .instances
            .keys()
            .filter(|a| **a != self.master && Some(*a) != group_master && !listed.contains(a))
            .cloned()
            .collect();
        if missing.is_empty() {
            self.replicas_proposed = None;
            return;
        }
        if self.replicas_proposed.as_ref().is_some_and(|(m, t)| *m == missing && now.saturating_sub(*t) < 5000) {
            return;
        }
        self.replicas_proposed = Some((missing.clone(), now));
        out.push(Action::ProposeReplicas(missing));
    }

    /// The group's record of this master changed (applied on every member, leader included).
    fn on_group(&mut self, now: u64, addr: Addr, config_epoch: u64, failover_epoch: u64, out: &mut Vec<Action>) {
        let pending = failover_epoch > config_epoch;
        if pending && (!self.group_failover_pending || failover_epoch != self.group_failover_epoch) {
            self.group_failover_since = now;
        }
        self.group_failover_pending = pending;
        self.group_failover_epoch = failover_epoch;
        self.group_master = Some(addr.clone());
        if config_epoch > self.group_switch_epoch {
            // The group committed a new switch: the next master may be failed over at once.
            self.group_switch_epoch = config_epoch;
            self.last_failover_start = None;
        }
        self.fence(Some(failover_epoch), out);
        if failover_epoch > self.current_epoch {
            self.current_epoch = failover_epoch;
            out.push(Action::Publish("+new-epoch", failover_epoch.to_string()));
            out.push(Action::Save);
        }
        // The same epoch with another master is adopted too: the group holds one master per
        // epoch, and this sentinel, not in a failover, must answer it.
        if config_epoch < self.config_epoch || addr == self.master {
            self.config_epoch = self.config_epoch.max(config_epoch);
            return;
        }
        // The group replaced the master: a failover start this sentinel proposed, or began
        // without touching anything yet, was about the old master and must not go on against
        // the new one (found by the kill-leader drill: a new leader's start, proposed for the
        // dead master just before the dead leader's switch committed, promoted a replica of the
        // healthy new master).
        if self.agreement.pending().is_some() {
            self.agreement.set_pending(None);
            out.push(Action::Publish("-failover-abort-not-elected", self.instance_label(&self.master.clone())));
        }
        self.abort_untouched(out);
        // A failover this sentinel leads past its promotion ends with its own switch; anyone
        // else adopts the group's newer configuration now (as a Redis sentinel adopts it from a
        // hello).
        if self.failover_in_progress() {
            return;
        }
        self.config_epoch = config_epoch;
        self.add(addr.clone(), now);
        out.push(Action::Connect(addr.clone()));
        self.switch_to(addr, out);
    }

    /// The epoch of the failover this sentinel is running, if any.
    pub fn acting_epoch(&self) -> Option<u64> {
        self.acting_epoch.filter(|_| self.failover_in_progress())
    }

    /// In a group, a failover that has not sent anything to the data nodes yet stops when this
    /// sentinel no longer leads or the group started a newer one: only one sentinel acts.
    fn fence(&mut self, group_epoch: Option<u64>, out: &mut Vec<Action>) {
        let Some(mine) = self.acting_epoch() else { return };
        let superseded = group_epoch.is_some_and(|e| e > mine);
        if self.agreement.in_group() && (superseded || !self.agreement.leads()) {
            self.abort_untouched(out);
        }
    }

    /// Stops this sentinel's failover if it has not sent anything to the data nodes yet.
    fn abort_untouched(&mut self, out: &mut Vec<Action>) {
        let untouched = matches!(
            self.failover.state,
            failover::State::SelectReplica { .. } | failover::State::WaitReplicaSync { .. }
        );
        if self.acting_epoch().is_some() && untouched {
            let fparams = self.failover.params;
            self.failover = Failover::new(&self.name, fparams);
            self.select_until = None;
            self.acting_epoch = None;
            out.push(Action::Publish("-failover-abort-not-elected", self.instance_label(&self.master.clone())));
        }
    }

    fn begin_failover(&mut self, now: u64, graceful: Option<Addr>, manual: bool, out: &mut Vec<Action>) {
        self.acting_epoch = Some(self.current_epoch);
        let label = self.instance_label(&self.master.clone());
        out.push(Action::Publish("+elected-leader", label));
        let started = match graceful {
            Some(old) => self.failover.start_graceful(now, old),
            None => self.failover.start(now),
        };
        self.apply(started, out);
        // A failover of the group whose leader died after promoting a replica is finished with
        // that replica: it already is a master and may have taken writes since.
        let promoted_before = self
            .group_failover_pending
            .then(|| {
                self.instances.iter().find(|(a, i)| {
                    **a != self.master && i.info.role == Role::Master && i.connected && !i.detector.is_down()
                })
            })
            .flatten()
            .map(|(a, _)| a.clone());
        let best = promoted_before.or_else(|| self.choose(now));
        // An automatic failover that finds no eligible replica at once keeps looking for a
        // moment ([`SELECT_GRACE_MS`]): the replicas' INFO is refreshed every second from the
        // master's SDOWN on, and a replica whose INFO was a few seconds old becomes eligible.
        // SENTINEL FAILOVER answers at once (NOGOODSLAVE), as Redis.
        if best.is_none() && !manual {
            self.select_until = Some(now + SELECT_GRACE_MS);
            return;
        }
        let chosen = self.failover.selected(best);
        self.apply(chosen, out);
    }

    /// While a failover waits for an eligible replica: try again, or give up after the grace.
    fn retry_selection(&mut self, now: u64, out: &mut Vec<Action>) {
        let Some(until) = self.select_until else { return };
        if !matches!(self.failover.state, failover::State::SelectReplica { .. }) {
            self.select_until = None;
            return;
        }
        let best = self.choose(now);
        if best.is_some() || now > until {
            self.select_until = None;
            let chosen = self.failover.selected(best);
            self.apply(chosen, out);
        }
    }

    fn choose(&self, now: u64) -> Option<Addr> {
        let master_down_for = self.instances.get(&self.master).map_or(0, |i| i.detector.down_for(now));
        let limits = Limits {
            ping_period_ms: self.params.ping_period_ms,
            info_period_ms: self.params.info_period_ms,
            down_after_ms: self.params.down_after_ms,
            master_sdown: self.is_sdown(&self.master),
            master_down_for_ms: master_down_for,
        };
        let (addrs, candidates): (Vec<Addr>, Vec<Candidate>) = self
            .instances
            .iter()
            .filter(|(a, _)| **a != self.master)
            .map(|(a, i)| {
                (
                    a.clone(),
                    Candidate {
                        addr: a.clone(),
                        down: i.detector.is_down(),
                        connected: i.connected,
                        since_ping_reply_ms: now.saturating_sub(i.last_reply_at),
                        since_info_ms: i.info_at.map_or(u64::MAX, |t| now.saturating_sub(t)),
                        priority: i.info.priority,
                        offset: i.info.repl_offset,
                        run_id: i.info.run_id.clone(),
                        master_link_down_ms: i.info.master_link_down_ms,
                    },
                )
            })
            .unzip();
        select::select(&candidates, &limits).map(|i| addrs[i].clone())
    }

    fn apply(&mut self, outputs: Vec<Output>, out: &mut Vec<Action>) {
        for o in outputs {
            match o {
                Output::Event(name, target) => {
                    let about = if target.is_empty() { self.master.clone() } else { target };
                    out.push(Action::Publish(name, self.instance_label(&about)));
                    if name == "+promoted-slave" {
                        // As Redis: the failover's epoch becomes the config epoch as soon as the
                        // promotion is seen, and is saved before anything is re-pointed. In a
                        // group the switch is committed now, so every sentinel answers the new
                        // master while the replicas are being re-pointed.
                        // The epoch is the failover's own (Redis's failover_epoch), not the
                        // current one: a sentinel that learnt of a newer failover meanwhile
                        // must not claim its epoch (found by the group simulation).
                        self.config_epoch = self.acting_epoch.unwrap_or(self.current_epoch);
                        out.push(Action::Save);
                        if self.agreement.in_group() {
                            out.push(Action::ProposeSwitch(about.clone(), self.config_epoch));
                        }
                        out.push(Action::ClientReconfig(self.master.clone(), about));
                    }
                }
                Output::Promote(a) => out.push(Action::Promote(a)),
                Output::PauseWrites(a) => out.push(Action::PauseWrites(a, self.params.failover_timeout_ms)),
                Output::Reconfigure(a, to) => out.push(Action::Reconfigure(a, to)),
                Output::Switched(new_master) => {
                    // In a group, a failover whose switch the group has superseded (a newer
                    // switch committed while this one re-pointed replicas) ends on the group's
                    // master, not on its own promoted replica (found by the seeded simulation:
                    // a sentinel answered its own, older choice forever).
                    let superseded =
                        self.agreement.in_group() && self.acting_epoch.is_some_and(|e| self.group_switch_epoch > e);
                    let target = match (&self.group_master, superseded) {
                        (Some(group), true) => {
                            self.config_epoch = self.config_epoch.max(self.group_switch_epoch);
                            group.clone()
                        }
                        _ => new_master,
                    };
                    if target != self.master {
                        self.switch_to(target, out);
                    }
                }
            }
        }
    }

    /// The master is now `new_master`: `+switch-master`, and the replicas announced again.
    fn switch_to(&mut self, new_master: Addr, out: &mut Vec<Action>) {
        let (oip, oport) = split(&self.master);
        let (nip, nport) = split(&new_master);
        out.push(Action::Publish("+switch-master", format!("{} {oip} {oport} {nip} {nport}", self.name)));
        // The old master stays in `instances`: from now on it is listed as a replica, to be
        // converted when it returns.
        let old_master = self.master.clone();
        if let Some(old) = self.instances.get_mut(&old_master) {
            old.detector.role_mismatch(false, 0);
        }
        self.master = new_master;
        self.odown = false;
        // A new master may be failed over at once if it dies too, as in Redis (its master reset
        // clears the failover start time): the 2 x failover-timeout pause is between attempts
        // on one master, not a quarantine of the next one. In a group this waits for the group
        // to commit the switch (see `on_group`), so no new attempt starts on a switch the group
        // does not know yet.
        if !self.agreement.in_group() {
            self.last_failover_start = None;
        }
        // As Redis, the group's replicas are announced again under the new master: the old
        // replicas, then the old master.
        let mut replicas = self.replicas();
        replicas.retain(|r| *r != old_master);
        replicas.push(old_master);
        for r in replicas {
            out.push(Action::Publish("+slave", self.instance_label(&r)));
        }
        out.push(Action::Save);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::ListedReplica;

    const M: &str = "10.0.0.1:6379";
    const R1: &str = "10.0.0.2:6379";
    const R2: &str = "10.0.0.3:6379";

    fn params() -> Params {
        Params { down_after_ms: 1000, failover_timeout_ms: 60_000, parallel_syncs: 1, quorum: 1, ..Params::default() }
    }

    fn master_info() -> Info {
        Info {
            role: Role::Master,
            replicas: vec![
                ListedReplica { ip: "10.0.0.2".into(), port: 6379 },
                ListedReplica { ip: "10.0.0.3".into(), port: 6379 },
            ],
            priority: 100,
            announced: true,
            ..Info::default()
        }
    }

    fn replica_info(offset: u64, run_id: &str, master: &str, up: bool) -> Info {
        let (h, p) = split(master);
        Info {
            role: Role::Replica,
            run_id: Some(run_id.repeat(40)),
            master_host: Some(h.into()),
            master_port: p.parse().ok(),
            master_link_up: up,
            priority: 100,
            repl_offset: offset,
            announced: true,
            ..Info::default()
        }
    }

    fn published(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Publish(n, p) => Some(format!("{n} {p}")),
                Action::Promote(a) => Some(format!("PROMOTE {a}")),
                Action::Reconfigure(a, to) => Some(format!("REPOINT {a} -> {to}")),
                _ => None,
            })
            .collect()
    }

    /// A master with two replicas, all healthy at t=0..=1000.
    fn healthy() -> (Monitor, Vec<Action>) {
        let mut m = Monitor::new("mymaster", M.into(), params(), 0);
        let mut trace = Vec::new();
        trace.extend(m.step(0, Event::Connected(M.into())));
        trace.extend(m.step(0, Event::Info(M.into(), master_info())));
        for (r, off, id) in [(R1, 100, "b"), (R2, 200, "a")] {
            trace.extend(m.step(0, Event::Connected(r.into())));
            trace.extend(m.step(10, Event::Info(r.into(), replica_info(off, id, M, true))));
        }
        for t in [500, 1000] {
            for a in [M, R1, R2] {
                m.step(t, Event::PingSent(a.into()));
                m.step(t + 1, Event::Ping(a.into(), PingReply::Pong));
            }
        }
        (m, trace)
    }

    #[test]
    fn replicas_are_discovered_from_the_masters_info() {
        let (m, trace) = healthy();
        assert_eq!(m.replicas(), vec![R1.to_string(), R2.to_string()]);
        assert_eq!(
            published(&trace),
            vec![
                "+slave slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379",
                "+slave slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379"
            ]
        );
    }

    #[test]
    fn a_dead_master_is_failed_over_to_the_replica_with_the_most_data() {
        let (mut m, _) = healthy();
        // The master stops answering at t=2000; replicas keep answering.
        m.step(2000, Event::PingSent(M.into()));
        let mut trace = Vec::new();
        for t in (2100..=3100).step_by(100) {
            for r in [R1, R2] {
                trace.extend(m.step(t, Event::PingSent(r.into())));
                trace.extend(m.step(t, Event::Ping(r.into(), PingReply::Pong)));
            }
            trace.extend(m.step(t, Event::Tick));
        }
        // R2 has the larger offset: it is chosen.
        trace.extend(m.step(3101, Event::PromotionSent(R2.into())));
        trace.extend(m.step(3200, Event::Info(R2.into(), Info { role: Role::Master, ..Info::default() })));
        trace.extend(m.step(3300, Event::Info(R1.into(), replica_info(150, "b", R2, false))));
        trace.extend(m.step(3400, Event::Info(R1.into(), replica_info(150, "b", R2, true))));
        assert_eq!(
            published(&trace),
            vec![
                "+sdown master mymaster 10.0.0.1 6379",
                "+odown master mymaster 10.0.0.1 6379 #quorum 1/1",
                "+new-epoch 1",
                "+try-failover master mymaster 10.0.0.1 6379",
                "+elected-leader master mymaster 10.0.0.1 6379",
                "+failover-state-select-slave master mymaster 10.0.0.1 6379",
                "+selected-slave slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379",
                "+failover-state-send-slaveof-noone slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379",
                "PROMOTE 10.0.0.3:6379",
                "+failover-state-wait-promotion slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379",
                // Redis's rule: `-` when the reported role contradicts our records (still a replica).
                "-role-change slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379 new reported role is master",
                "+promoted-slave slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379",
                "+failover-state-reconf-slaves master mymaster 10.0.0.1 6379",
                "REPOINT 10.0.0.2:6379 -> 10.0.0.3:6379",
                "+slave-reconf-sent slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379",
                "+slave-reconf-inprog slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379",
                "+slave-reconf-done slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379",
                "+failover-end master mymaster 10.0.0.1 6379",
                "+switch-master mymaster 10.0.0.1 6379 10.0.0.3 6379",
                "+slave slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.3 6379",
                "+slave slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.3 6379",
            ]
        );
        assert_eq!(m.master, R2);
        assert_eq!(m.config_epoch, 1);
        assert!(!m.failover_in_progress());
    }

    #[test]
    fn the_old_master_coming_back_is_converted_to_a_replica() {
        let (mut m, _) = healthy();
        m.master = R2.into(); // as after a failover to R2; M is now listed as a replica
        m.step(1100, Event::Info(R2.into(), Info { role: Role::Master, ..Info::default() }));
        let out = published(&m.step(1200, Event::Info(M.into(), Info { role: Role::Master, ..Info::default() })));
        assert_eq!(
            out,
            vec![
                "+convert-to-slave slave 10.0.0.1:6379 10.0.0.1 6379 @ mymaster 10.0.0.3 6379",
                "REPOINT 10.0.0.1:6379 -> 10.0.0.3:6379"
            ]
        );
        assert!(
            published(&m.step(1300, Event::Info(M.into(), Info { role: Role::Master, ..Info::default() }))).is_empty(),
            "not again within 4 s"
        );
        let fixed = published(&m.step(1400, Event::Info(R1.into(), replica_info(1, "b", "10.9.9.9:1", true))));
        assert_eq!(fixed[0], "+fix-slave-config slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.3 6379");
    }

    #[test]
    fn a_master_that_answers_late_but_in_time_is_never_down() {
        let (mut m, _) = healthy();
        let mut trace = Vec::new();
        for t in (2000..10_000).step_by(900) {
            trace.extend(m.step(t, Event::PingSent(M.into())));
            trace.extend(m.step(t + 899, Event::Ping(M.into(), PingReply::Pong)));
        }
        assert!(published(&trace).is_empty(), "{trace:?}");
    }

    #[test]
    fn a_new_master_that_dies_is_failed_over_at_once() {
        let (mut m, _) = healthy();
        m.step(2000, Event::PingSent(M.into()));
        for t in (2100..=3100).step_by(100) {
            for r in [R1, R2] {
                m.step(t, Event::PingSent(r.into()));
                m.step(t, Event::Ping(r.into(), PingReply::Pong));
            }
            m.step(t, Event::Tick);
        }
        m.step(3101, Event::PromotionSent(R2.into()));
        m.step(3200, Event::Info(R2.into(), Info { role: Role::Master, ..Info::default() }));
        m.step(3300, Event::Info(R1.into(), replica_info(150, "b", R2, true)));
        assert_eq!(m.master, R2);
        assert!(!m.failover_in_progress());
        // The new master dies 2 s later: as in Redis, the 2 x failover-timeout pause between
        // attempts does not hold back the failover of the next master.
        m.step(5000, Event::PingSent(R2.into()));
        let mut trace = Vec::new();
        for t in (5100..=6200).step_by(100) {
            trace.extend(m.step(t, Event::PingSent(R1.into())));
            trace.extend(m.step(t, Event::Ping(R1.into(), PingReply::Pong)));
            trace.extend(m.step(t, Event::Tick));
        }
        let events = published(&trace);
        assert!(events.contains(&"+try-failover master mymaster 10.0.0.3 6379".to_string()), "{events:?}");
        assert_eq!(m.current_epoch, 2);
    }

    #[test]
    fn no_second_failover_within_twice_the_failover_timeout() {
        let (mut m, _) = healthy();
        let mut out = Vec::new();
        m.start_failover(5000, &mut out);
        assert_eq!(m.current_epoch, 1);
        // Abort: the chosen replica never reports master within failover-timeout.
        let aborted = published(&m.step(5000 + 60_001, Event::Tick));
        assert!(
            aborted.contains(&"-failover-abort-slave-timeout master mymaster 10.0.0.1 6379".to_string()),
            "{aborted:?}"
        );
        // Still ODOWN? The master was never declared down here; force the check by silence.
        m.step(70_000, Event::PingSent(M.into()));
        let later = published(&m.step(72_000, Event::Tick));
        assert!(!later.iter().any(|e| e.starts_with("+try-failover")), "too soon: {later:?}");
        let much_later = published(&m.step(5000 + 120_000, Event::Tick));
        assert!(much_later.iter().any(|e| e.starts_with("+try-failover")), "{much_later:?}");
        assert_eq!(m.current_epoch, 2);
    }
}
