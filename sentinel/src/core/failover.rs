//! The failover of one master, as a pure state machine (the part the leader runs).
//!
//! ```text
//! Idle ──start──▶ SelectReplica ──best replica──▶ SendPromotion ──sent──▶ WaitPromotion
//!                     │ none: abort                    │ timeout: abort       │ INFO role:master
//!                     ▼                                ▼                      ▼
//!                   Idle                             Idle              ReconfReplicas ──all done or timeout──▶ Done
//! ```
//!
//! Every state carries its data (the chosen replica, deadlines), so an impossible combination
//! cannot be written down. The machine reads no clock: each call gets `now` (ms). It returns
//! [`Output`]s — events to announce with Redis Sentinel's names, and commands for the driver to
//! send — and is told what happened through [`Failover::promotion_sent`],
//! [`Failover::replica_info`] and [`Failover::tick`].
//!
//! As in Redis, a failover can be aborted only before the promotion is observed; after that it
//! always completes, by timeout if it must.

use std::collections::BTreeMap;

/// An instance address, `ip:port`.
pub type Addr = String;

/// What the state machine asks for or announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Publish this event (`+selected-slave`, ...) about this replica (an empty string: about
    /// the master). The caller formats the payload as Redis does.
    Event(&'static str, String),
    /// Send the promotion transaction (SLAVEOF NO ONE, CONFIG REWRITE, CLIENT KILLs) to `Addr`.
    Promote(Addr),
    /// Send the transaction that re-points `Addr` to the new master.
    Reconfigure(Addr, Addr),
    /// The failover ended: the master is now `Addr` (announce `+switch-master`, save state).
    Switched(Addr),
    /// Graceful failover: pause writes on the old master (`CLIENT PAUSE ... WRITE`) and report
    /// its replication offset once paused.
    PauseWrites(Addr),
}

/// Where a replica's re-pointing stands (Redis's `SRI_RECONF_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconf {
    /// Not yet asked.
    Pending,
    /// SLAVEOF sent at this time.
    Sent(u64),
    /// It reports the new master, link not yet up.
    InProgress,
    /// Link to the new master is up.
    Done,
}

/// The failover's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No failover.
    Idle,
    /// Choosing the replica.
    SelectReplica {
        /// When the failover started.
        started: u64,
    },
    /// Graceful failover: writes paused on the old master; waiting for the chosen replica to
    /// have every byte of its stream before promoting it, so no acknowledged write is lost.
    WaitReplicaSync {
        /// The chosen replica.
        replica: Addr,
        /// When the failover started.
        started: u64,
        /// The paused master's offset, once known.
        target: Option<u64>,
    },
    /// Waiting for the promotion transaction to go out.
    SendPromotion {
        /// The chosen replica.
        replica: Addr,
        /// When this state was entered (failover-timeout counts from here, as in Redis).
        started: u64,
    },
    /// Waiting for the replica to report `role:master`.
    WaitPromotion {
        /// The chosen replica.
        replica: Addr,
        /// When this state was entered.
        started: u64,
    },
    /// Re-pointing the other replicas.
    ReconfReplicas {
        /// The new master.
        promoted: Addr,
        /// When the re-pointing started.
        since: u64,
        /// Each other replica's progress.
        replicas: BTreeMap<Addr, Reconf>,
    },
}

/// What the failover needs to know of the replicas' health (the monitor reads it off its
/// detectors and links): re-pointing skips disconnected replicas and does not wait for SDOWN
/// ones, as Redis.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Replicas that are SDOWN.
    pub down: std::collections::BTreeSet<Addr>,
    /// Replicas whose link is down.
    pub disconnected: std::collections::BTreeSet<Addr>,
}

/// Parameters of the master being failed over.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// failover-timeout (ms).
    pub failover_timeout_ms: u64,
    /// parallel-syncs.
    pub parallel_syncs: usize,
    /// A replica stuck in `Sent` this long counts as done (Redis's slave reconf timeout,
    /// 10 s; `SENTINEL DEBUG slave-reconf-timeout`).
    pub reconf_timeout_ms: u64,
}

/// The failover of one master.
#[derive(Debug, Clone)]
pub struct Failover {
    /// Name of the master group, for event payloads.
    pub name: String,
    /// Current state.
    pub state: State,
    /// Timeouts and parallelism (changed by `SENTINEL SET`).
    pub params: Params,
    /// The old master is reachable: pause its writes and wait for the replica before promoting.
    graceful: Option<Addr>,
}

impl Failover {
    /// An idle failover for master group `name`.
    pub fn new(name: &str, params: Params) -> Failover {
        Failover { name: name.to_string(), state: State::Idle, params, graceful: None }
    }

    fn event(&self, name: &'static str, instance: &str) -> Output {
        Output::Event(name, instance.to_string())
    }

    /// Starts a graceful (manual) failover of the reachable master `old`: its writes are paused
    /// and the chosen replica must catch up before it is promoted.
    pub fn start_graceful(&mut self, now: u64, old: Addr) -> Vec<Output> {
        let out = self.start(now);
        if !out.is_empty() {
            self.graceful = Some(old);
        }
        out
    }

    /// Starts a failover at `now` (the caller decided: ODOWN and elected, or forced).
    pub fn start(&mut self, now: u64) -> Vec<Output> {
        if self.state != State::Idle {
            return Vec::new();
        }
        self.graceful = None;
        self.state = State::SelectReplica { started: now };
        vec![Output::Event("+failover-state-select-slave", String::new())]
    }

    /// Chooses the replica (`best`: the index chosen by [`super::select::select`] mapped to its
    /// address, or `None` if no replica is eligible).
    pub fn selected(&mut self, best: Option<Addr>) -> Vec<Output> {
        let State::SelectReplica { started } = self.state else { return Vec::new() };
        match best {
            None => {
                self.state = State::Idle;
                vec![Output::Event("-failover-abort-no-good-slave", String::new())]
            }
            Some(replica) => {
                let mut out = vec![self.event("+selected-slave", &replica)];
                if let Some(old) = self.graceful.clone() {
                    out.push(Output::PauseWrites(old));
                    self.state = State::WaitReplicaSync { replica, started, target: None };
                    return out;
                }
                out.push(self.event("+failover-state-send-slaveof-noone", &replica));
                out.push(Output::Promote(replica.clone()));
                self.state = State::SendPromotion { replica, started };
                out
            }
        }
    }

    /// The paused master's replication offset (graceful failover).
    pub fn master_paused_at(&mut self, offset: u64) {
        if let State::WaitReplicaSync { target, .. } = &mut self.state {
            *target = Some(offset);
        }
    }

    /// The driver sent the promotion transaction at `now`.
    pub fn promotion_sent(&mut self, now: u64) -> Vec<Output> {
        let State::SendPromotion { replica, .. } = self.state.clone() else { return Vec::new() };
        let out = vec![self.event("+failover-state-wait-promotion", &replica)];
        self.state = State::WaitPromotion { replica, started: now };
        out
    }

    /// The replica to promote, while its promotion has not gone out (the driver sends it again
    /// when the replica's link comes back).
    pub fn promotion_pending(&self) -> Option<&str> {
        match &self.state {
            State::SendPromotion { replica, .. } => Some(replica),
            _ => None,
        }
    }

    /// INFO from a replica: its role, the master it follows, and its link status.
    /// `others` lists every replica of the old master, to re-point once promotion is seen.
    /// The re-pointing itself happens in the next [`Failover::tick`].
    #[allow(clippy::too_many_arguments)]
    pub fn replica_info(
        &mut self,
        addr: &str,
        is_master: bool,
        follows: Option<&str>,
        link_up: bool,
        offset: u64,
        others: &[Addr],
        now: u64,
    ) -> Vec<Output> {
        if let State::WaitReplicaSync { replica, target, .. } = &self.state {
            if replica == addr && target.is_some_and(|t| offset >= t) {
                let replica = replica.clone();
                let out =
                    vec![self.event("+failover-state-send-slaveof-noone", &replica), Output::Promote(replica.clone())];
                self.state = State::SendPromotion { replica, started: now };
                return out;
            }
            return Vec::new();
        }
        match &mut self.state {
            State::WaitPromotion { replica, .. } if replica == addr && is_master => {
                let promoted = replica.clone();
                // A graceful failover also re-points the old master, which is up.
                let mut replicas: BTreeMap<Addr, Reconf> =
                    others.iter().filter(|a| **a != promoted).map(|a| (a.clone(), Reconf::Pending)).collect();
                if let Some(old) = self.graceful.clone() {
                    replicas.insert(old, Reconf::Pending);
                }
                self.state = State::ReconfReplicas { promoted: promoted.clone(), since: now, replicas };
                vec![self.event("+promoted-slave", &promoted), self.event("+failover-state-reconf-slaves", "")]
            }
            State::ReconfReplicas { promoted, replicas, .. } => {
                let promoted = promoted.clone();
                let Some(r) = replicas.get_mut(addr) else { return Vec::new() };
                let mut out = Vec::new();
                let follows_new = follows == Some(promoted.as_str());
                if matches!(r, Reconf::Sent(_)) && follows_new {
                    *r = Reconf::InProgress;
                    out.push(Output::Event("+slave-reconf-inprog", addr.to_string()));
                }
                if *r == Reconf::InProgress && follows_new && link_up {
                    *r = Reconf::Done;
                    out.push(Output::Event("+slave-reconf-done", addr.to_string()));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// Time passes: timeouts, and keeping `parallel-syncs` re-pointings under way.
    ///
    /// The re-pointing follows Redis: a replica silent 10 s after its SLAVEOF counts as done
    /// (`-slave-reconf-sent-timeout`); disconnected replicas are not sent anything; the failover
    /// ends once every replica that is not SDOWN is done, or, after failover-timeout, anyway
    /// (`+failover-end-for-timeout`, then a best-effort SLAVEOF to every connected replica not
    /// yet done nor sent, `+slave-reconf-sent-be`).
    pub fn tick(&mut self, now: u64, health: &Health) -> Vec<Output> {
        let timeout = self.params.failover_timeout_ms;
        let reconf_timeout = self.params.reconf_timeout_ms;
        let parallel = self.params.parallel_syncs.max(1);
        match &mut self.state {
            State::SendPromotion { started, .. }
            | State::WaitPromotion { started, .. }
            | State::WaitReplicaSync { started, .. }
                if now.saturating_sub(*started) > timeout =>
            {
                // About the master, as Redis announces it.
                self.state = State::Idle;
                vec![Output::Event("-failover-abort-slave-timeout", String::new())]
            }
            State::ReconfReplicas { promoted, since, replicas } => {
                let promoted = promoted.clone();
                let mut out = Vec::new();
                for (addr, r) in replicas.iter_mut() {
                    if matches!(*r, Reconf::Sent(at) if now.saturating_sub(at) > reconf_timeout) {
                        *r = Reconf::Done;
                        out.push(Output::Event("-slave-reconf-sent-timeout", addr.clone()));
                    }
                }
                let in_flight = replicas.values().filter(|r| matches!(r, Reconf::Sent(_) | Reconf::InProgress)).count();
                let mut room = parallel.saturating_sub(in_flight);
                for (addr, r) in replicas.iter_mut() {
                    if room == 0 {
                        break;
                    }
                    if *r == Reconf::Pending && !health.disconnected.contains(addr) {
                        *r = Reconf::Sent(now);
                        room -= 1;
                        out.push(Output::Reconfigure(addr.clone(), promoted.clone()));
                        out.push(Output::Event("+slave-reconf-sent", addr.clone()));
                    }
                }
                let done = replicas.iter().all(|(a, r)| *r == Reconf::Done || health.down.contains(a));
                let timed_out = !done && now.saturating_sub(*since) > timeout;
                if !done && !timed_out {
                    return out;
                }
                if timed_out {
                    out.push(Output::Event("+failover-end-for-timeout", String::new()));
                }
                out.push(Output::Event("+failover-end", String::new()));
                if timed_out {
                    for (addr, r) in replicas.iter() {
                        let skip = matches!(r, Reconf::Done | Reconf::Sent(_)) || health.disconnected.contains(addr);
                        if !skip {
                            out.push(Output::Reconfigure(addr.clone(), promoted.clone()));
                            out.push(Output::Event("+slave-reconf-sent-be", addr.clone()));
                        }
                    }
                }
                out.push(Output::Switched(promoted));
                self.state = State::Idle;
                out
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params { failover_timeout_ms: 180_000, parallel_syncs: 1, reconf_timeout_ms: 10_000 };

    fn names(out: &[Output]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Output::Event(n, _) => (*n).to_string(),
                Output::Promote(a) => format!("PROMOTE {a}"),
                Output::Reconfigure(a, to) => format!("REPOINT {a} -> {to}"),
                Output::Switched(a) => format!("SWITCHED {a}"),
                Output::PauseWrites(a) => format!("PAUSE {a}"),
            })
            .collect()
    }

    /// INFO, then the tick the monitor always runs after it.
    #[allow(clippy::too_many_arguments)]
    fn info(
        f: &mut Failover,
        addr: &str,
        is_master: bool,
        follows: Option<&str>,
        link_up: bool,
        offset: u64,
        others: &[Addr],
        now: u64,
    ) -> Vec<Output> {
        let mut out = f.replica_info(addr, is_master, follows, link_up, offset, others, now);
        out.extend(f.tick(now, &Health::default()));
        out
    }

    fn replicas() -> Vec<Addr> {
        vec!["r1:1".into(), "r2:2".into(), "r3:3".into()]
    }

    #[test]
    fn a_whole_failover_in_order() {
        let mut f = Failover::new("mymaster", P);
        let mut trace = Vec::new();
        trace.extend(f.start(0));
        trace.extend(f.selected(Some("r1:1".into())));
        trace.extend(f.promotion_sent(0));
        trace.extend(info(&mut f, "r2:2", false, Some("old:0"), true, 0, &replicas(), 100));
        trace.extend(info(&mut f, "r1:1", true, None, false, 0, &replicas(), 200));
        // parallel-syncs 1: r2 first; r3 only once r2 is done.
        trace.extend(info(&mut f, "r2:2", false, Some("r1:1"), false, 0, &replicas(), 300));
        trace.extend(info(&mut f, "r2:2", false, Some("r1:1"), true, 0, &replicas(), 400));
        trace.extend(info(&mut f, "r3:3", false, Some("r1:1"), true, 0, &replicas(), 500));
        trace.extend(info(&mut f, "r3:3", false, Some("r1:1"), true, 0, &replicas(), 600));
        assert_eq!(
            names(&trace),
            vec![
                "+failover-state-select-slave",
                "+selected-slave",
                "+failover-state-send-slaveof-noone",
                "PROMOTE r1:1",
                "+failover-state-wait-promotion",
                "+promoted-slave",
                "+failover-state-reconf-slaves",
                "REPOINT r2:2 -> r1:1",
                "+slave-reconf-sent",
                "+slave-reconf-inprog",
                "+slave-reconf-done",
                "REPOINT r3:3 -> r1:1",
                "+slave-reconf-sent",
                "+slave-reconf-inprog",
                "+slave-reconf-done",
                "+failover-end",
                "SWITCHED r1:1",
            ]
        );
        assert_eq!(f.state, State::Idle);
    }

    #[test]
    fn a_graceful_failover_waits_for_the_replica_before_promoting_and_repoints_the_old_master() {
        let mut f = Failover::new("m", P);
        let mut trace = Vec::new();
        trace.extend(f.start_graceful(0, "old:0".into()));
        trace.extend(f.selected(Some("r1:1".into())));
        trace.extend(info(&mut f, "r1:1", false, Some("old:0"), true, 50, &replicas(), 10));
        f.master_paused_at(100);
        trace.extend(info(&mut f, "r1:1", false, Some("old:0"), true, 99, &replicas(), 20));
        trace.extend(info(&mut f, "r1:1", false, Some("old:0"), true, 100, &replicas(), 30));
        trace.extend(f.promotion_sent(0));
        trace.extend(info(&mut f, "r1:1", true, None, false, 100, &["r1:1".into()], 40));
        assert_eq!(
            names(&trace),
            vec![
                "+failover-state-select-slave",
                "+selected-slave",
                "PAUSE old:0",
                "+failover-state-send-slaveof-noone",
                "PROMOTE r1:1",
                "+failover-state-wait-promotion",
                "+promoted-slave",
                "+failover-state-reconf-slaves",
                "REPOINT old:0 -> r1:1",
                "+slave-reconf-sent",
            ]
        );
    }

    #[test]
    fn no_eligible_replica_aborts() {
        let mut f = Failover::new("m", P);
        f.start(0);
        assert_eq!(names(&f.selected(None)), vec!["-failover-abort-no-good-slave"]);
        assert_eq!(f.state, State::Idle);
    }

    #[test]
    fn a_replica_that_never_reports_master_aborts_at_the_timeout() {
        let mut f = Failover::new("m", P);
        f.start(0);
        f.selected(Some("r1:1".into()));
        f.promotion_sent(0);
        assert!(f.tick(180_000, &Health::default()).is_empty());
        assert_eq!(names(&f.tick(180_001, &Health::default())), vec!["-failover-abort-slave-timeout"]);
    }

    #[test]
    fn after_promotion_the_failover_always_completes_by_timeout() {
        let mut f =
            Failover::new("m", Params { failover_timeout_ms: 1000, parallel_syncs: 1, reconf_timeout_ms: 10_000 });
        f.start(0);
        f.selected(Some("r1:1".into()));
        f.promotion_sent(0);
        info(&mut f, "r1:1", true, None, false, 0, &replicas(), 10);
        // r2 was sent SLAVEOF and never follows; r3 never gets its turn: as Redis, the end is
        // announced, then a best-effort SLAVEOF goes to r3 only (r2 already has one).
        let out = f.tick(1011, &Health::default());
        assert_eq!(
            names(&out),
            vec![
                "+failover-end-for-timeout",
                "+failover-end",
                "REPOINT r3:3 -> r1:1",
                "+slave-reconf-sent-be",
                "SWITCHED r1:1"
            ]
        );
    }

    #[test]
    fn a_replica_stuck_after_slaveof_counts_as_done_after_ten_seconds() {
        let mut f = Failover::new("m", P);
        f.start(0);
        f.selected(Some("r1:1".into()));
        f.promotion_sent(0);
        info(&mut f, "r1:1", true, None, false, 0, &["r1:1".into(), "r2:2".into()], 0);
        let out = f.tick(10_001, &Health::default());
        assert_eq!(names(&out), vec!["-slave-reconf-sent-timeout", "+failover-end", "SWITCHED r1:1"]);
    }

    #[test]
    fn disconnected_replicas_are_skipped_and_sdown_ones_not_waited_for() {
        let mut f = Failover::new("m", P);
        f.start(0);
        f.selected(Some("r1:1".into()));
        f.promotion_sent(0);
        f.replica_info("r1:1", true, None, false, 0, &replicas(), 10);
        let dead = Health { down: ["r2:2".into()].into(), disconnected: ["r2:2".into()].into() };
        assert_eq!(names(&f.tick(20, &dead)), vec!["REPOINT r3:3 -> r1:1", "+slave-reconf-sent"]);
        // r3 done; r2 is SDOWN: not waited for.
        let mut out = f.replica_info("r3:3", false, Some("r1:1"), true, 0, &replicas(), 30);
        out.extend(f.tick(30, &dead));
        assert_eq!(names(&out), vec!["+slave-reconf-inprog", "+slave-reconf-done", "+failover-end", "SWITCHED r1:1"]);
    }
}
