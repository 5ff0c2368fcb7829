//! Seeded simulation of a sentinel group's decision logic: three [`Monitor`]s in group mode, an
//! idealised Raft log (a command commits only when its proposer is the leader of a majority
//! side), simulated data nodes, and random faults — the master dies, sentinels are partitioned
//! (a cut-off leader keeps believing it leads), reports are lost, the leader changes, a sentinel
//! crashes and restarts with nothing but the group's state (at any step of a failover it leads). After
//! every step the named safety checks run; a failure prints the seed to replay, the group's log,
//! each sentinel's view and the data nodes.
//!
//! - `one_master_per_epoch`: the log never switches to two masters in one config epoch, and
//!   config epochs only grow;
//! - `no_action_without_agreement`: a sentinel promotes a replica only for a failover start the
//!   group committed, proposed while the sentinel saw the master objectively down;
//! - `converge_to_the_highest_epoch` (at the end, after healing): every sentinel answers the
//!   group's last master and config epoch;
//! - `replicas_follow_the_master` (at the end, every node back for 40 s): the group's master is
//!   a master and every other node replicates from it (old masters were converted, also by a
//!   leader restarted with nothing but the group's state).
//!
//! A failover start commits one step after it is proposed, before or after a switch in flight.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vigil_sentinel::core::agree::Agreement;
use vigil_sentinel::core::detect::PingReply;
use vigil_sentinel::core::monitor::{Action, Event, Monitor, Params};
use vigil_sentinel::group::state::{Applied, Command, GroupState};
use vigil_sentinel::info::{Info, ListedReplica, Role};

const M: &str = "10.0.0.1:6379";
const R1: &str = "10.0.0.2:6379";
const R2: &str = "10.0.0.3:6379";
const STEP: u64 = 100;

/// A simulated data node.
#[derive(Debug, Clone)]
struct DataNode {
    alive: bool,
    role: Role,
    follows: Option<String>,
    offset: u64,
}

struct Sim {
    rng: StdRng,
    seed: u64,
    now: u64,
    monitors: Vec<Monitor>,
    /// The sentinels on the majority side of the current partition (all when healed).
    majority: BTreeSet<usize>,
    /// The group's actual leader (on the majority side), if any.
    leader: Option<usize>,
    /// What each sentinel believes about leading (a cut-off leader keeps believing).
    believes: Vec<bool>,
    log: Vec<Command>,
    state: GroupState,
    applied: Vec<usize>,
    data: BTreeMap<String, DataNode>,
    /// Failover starts proposed, by (sentinel, epoch), with whether it saw ODOWN then.
    proposed_with_odown: BTreeMap<(usize, u64), bool>,
    /// Answers to deliver: (when, sentinel, event).
    pending: Vec<(u64, usize, Event)>,
    /// Switches proposed and not yet answered: (sentinel, addr, epoch, give up at). The driver
    /// retries them for 30 s; a member on the majority side forwards them to the leader.
    switches: Vec<(usize, String, u64, u64)>,
    /// Failover starts proposed by the leader, committed at the next step (so a switch may
    /// commit first): (sentinel, master, epoch).
    starts: Vec<(usize, String, u64)>,
    loss: f64,
}

fn replica_info(n: &DataNode, addr: &str) -> Info {
    let (mh, mp) = n
        .follows
        .as_deref()
        .and_then(|f| f.rsplit_once(':'))
        .map_or((None, None), |(h, p)| (Some(h.to_string()), p.parse().ok()));
    Info {
        role: n.role,
        run_id: Some(format!("{:0>40}", addr.replace(['.', ':'], ""))),
        master_host: mh,
        master_port: mp,
        master_link_up: true,
        priority: 100,
        repl_offset: n.offset,
        announced: true,
        master_repl_offset: n.offset,
        ..Info::default()
    }
}

impl Sim {
    fn params() -> Params {
        Params { down_after_ms: 1000, failover_timeout_ms: 10_000, quorum: 2, ..Params::default() }
    }

    fn new(seed: u64) -> Sim {
        let monitors = (0..3)
            .map(|_| {
                let mut m = Monitor::new("mymaster", M.into(), Sim::params(), 0);
                m.agreement = Agreement::group();
                m
            })
            .collect();
        let mut data = BTreeMap::new();
        data.insert(M.to_string(), DataNode { alive: true, role: Role::Master, follows: None, offset: 100 });
        for (r, off) in [(R1, 90), (R2, 95)] {
            data.insert(
                r.to_string(),
                DataNode { alive: true, role: Role::Replica, follows: Some(M.into()), offset: off },
            );
        }
        let mut state = GroupState::default();
        let monitor = Command::Monitor { name: "mymaster".into(), addr: M.into(), quorum: 2, options: vec![] };
        state.apply(&monitor);
        Sim {
            rng: StdRng::seed_from_u64(seed),
            seed,
            now: 0,
            monitors,
            majority: (0..3).collect(),
            leader: Some(0),
            believes: vec![true, false, false],
            log: vec![monitor],
            state,
            applied: vec![1, 1, 1],
            data,
            proposed_with_odown: BTreeMap::new(),
            pending: Vec::new(),
            switches: Vec::new(),
            starts: Vec::new(),
            loss: 0.0,
        }
    }

    /// Fails the named check, with what the run left to read: the group's log, each sentinel's
    /// view and the data nodes.
    fn fail(&self, check: &str, msg: String) -> ! {
        let log: Vec<String> = self.log.iter().map(|c| format!("  {c:?}")).collect();
        let views: Vec<String> = self
            .monitors
            .iter()
            .enumerate()
            .map(|(s, m)| {
                format!(
                    "  sentinel {s}: master {} (config epoch {}), leads {}, failover in progress {}, replicas {:?}",
                    m.master,
                    m.config_epoch,
                    m.agreement.leads(),
                    m.failover_in_progress(),
                    m.replicas()
                )
            })
            .collect();
        panic!(
            "seed {}: t={} ms: safety check `{check}` failed: {msg}\ngroup log:\n{}\nsentinels:\n{}\ndata nodes: {:?}",
            self.seed,
            self.now,
            log.join("\n"),
            views.join("\n"),
            self.data
        );
    }

    /// Feeds one event to sentinel `s` and carries out its actions.
    fn feed(&mut self, s: usize, e: Event) {
        let actions = self.monitors[s].step(self.now, e);
        for a in actions {
            self.act(s, a);
        }
    }

    fn commit(&mut self, cmd: Command) -> Applied {
        let r = self.state.apply(&cmd);
        if r == Applied::Done {
            self.log.push(cmd);
        }
        r
    }

    fn act(&mut self, s: usize, a: Action) {
        match a {
            Action::ProposeFailover(epoch, master) => {
                let odown = self.monitors[s].is_odown();
                self.proposed_with_odown.insert((s, epoch), odown);
                // A cut-off proposer never hears back until it gives up (the monitor's timeout).
                if self.leader == Some(s) && self.majority.contains(&s) {
                    self.starts.push((s, master, epoch));
                }
            }
            Action::ProposeSwitch(addr, epoch) => self.switches.push((s, addr, epoch, self.now + 30_000)),
            Action::ProposeReplicas(addrs) => {
                if self.leader == Some(s) && self.majority.contains(&s) {
                    self.commit(Command::AddReplicas { name: "mymaster".into(), addrs });
                }
            }
            Action::Promote(addr) => {
                // No action without agreement: the epoch this sentinel acts in was committed,
                // and it proposed it while it saw the master objectively down.
                let Some(epoch) = self.monitors[s].acting_epoch() else {
                    self.fail(
                        "no_action_without_agreement",
                        format!("sentinel {s} promotes {addr} outside a failover"),
                    );
                };
                let committed = self
                    .log
                    .iter()
                    .any(|c| matches!(c, Command::FailoverStarted { config_epoch, .. } if *config_epoch == epoch));
                if !committed {
                    self.fail(
                        "no_action_without_agreement",
                        format!("sentinel {s} promotes {addr} in uncommitted epoch {epoch}"),
                    );
                }
                if self.proposed_with_odown.get(&(s, epoch)) != Some(&true) {
                    self.fail(
                        "no_action_without_agreement",
                        format!("sentinel {s} proposed epoch {epoch} without ODOWN"),
                    );
                }
                if let Some(n) = self.data.get_mut(&addr).filter(|n| n.alive) {
                    n.role = Role::Master;
                    n.follows = None;
                    self.pending.push((self.now + STEP, s, Event::PromotionSent(addr)));
                }
            }
            Action::Reconfigure(addr, to) => {
                if let Some(n) = self.data.get_mut(&addr).filter(|n| n.alive) {
                    n.role = Role::Replica;
                    n.follows = Some(to);
                }
            }
            Action::Connect(_) | Action::Publish(..) | Action::Save | Action::ClientReconfig(..) => {}
            Action::PauseWrites(..) => {}
        }
    }

    /// One step of 100 ms.
    fn step(&mut self) {
        self.now += STEP;
        let due: Vec<(u64, usize, Event)> = {
            let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(t, _, _)| *t <= self.now);
            self.pending = later;
            due
        };
        for (_, s, e) in due {
            self.feed(s, e);
        }
        // Starts and switches in flight commit in either order.
        let starts_first = self.rng.random_bool(0.5);
        if starts_first {
            self.commit_starts();
        }
        let now = self.now;
        let switches = std::mem::take(&mut self.switches);
        for (s, addr, epoch, until) in switches {
            if self.majority.contains(&s) && self.leader.is_some() {
                self.commit(Command::Switched { name: "mymaster".into(), addr, config_epoch: epoch });
            } else if now < until {
                self.switches.push((s, addr, epoch, until));
            }
        }
        if !starts_first {
            self.commit_starts();
        }
        let second = self.now.is_multiple_of(1000);
        for s in 0..3 {
            // The group's log reaches the sentinels on the majority side.
            if self.majority.contains(&s) {
                while self.applied[s] < self.log.len() {
                    self.applied[s] += 1;
                }
                let rec = self.state.masters["mymaster"].clone();
                let replicas = rec.replicas.into_iter().collect();
                let (addr, config_epoch, failover_epoch) = (rec.addr, rec.config_epoch, rec.failover_epoch);
                self.feed(s, Event::Group { addr, config_epoch, failover_epoch, replicas });
            }
            let leads = self.believes[s];
            self.feed(s, Event::Leader(leads));
            if second {
                let nodes: Vec<(String, DataNode)> = self.data.iter().map(|(a, n)| (a.clone(), n.clone())).collect();
                for (addr, n) in nodes {
                    self.feed(s, Event::Connected(addr.clone()));
                    self.feed(s, Event::PingSent(addr.clone()));
                    if n.alive {
                        self.feed(s, Event::Ping(addr.clone(), PingReply::Pong));
                        let mut info = replica_info(&n, &addr);
                        if n.role == Role::Master {
                            info.replicas = self
                                .data
                                .iter()
                                .filter(|(_, r)| r.follows.as_deref() == Some(addr.as_str()))
                                .map(|(a, _)| {
                                    let (ip, port) = a.rsplit_once(':').expect("addr");
                                    ListedReplica { ip: ip.into(), port: port.parse().expect("port") }
                                })
                                .collect();
                        }
                        self.feed(s, Event::Info(addr, info));
                    }
                }
                // Reports to the peers on the same side, some lost.
                let view =
                    (self.monitors[s].master.clone(), self.monitors[s].is_sdown(&self.monitors[s].master.clone()));
                for p in 0..3 {
                    let same_side = self.majority.contains(&s) == self.majority.contains(&p);
                    if p != s && same_side && !self.rng.random_bool(self.loss) {
                        let e = Event::PeerReport { from: s as u64, addr: view.0.clone(), sdown: view.1 };
                        self.feed(p, e);
                    }
                }
            }
            self.feed(s, Event::Tick);
        }
        self.check_epochs();
    }

    /// Commits the failover starts proposed at the last step, and answers their proposers.
    fn commit_starts(&mut self) {
        for (s, master, epoch) in std::mem::take(&mut self.starts) {
            let ok = self.commit(Command::FailoverStarted { name: "mymaster".into(), master, config_epoch: epoch })
                == Applied::Done;
            self.pending.push((self.now + STEP, s, Event::FailoverCommitted { epoch, ok }));
        }
    }

    fn check_epochs(&self) {
        let mut by_epoch: BTreeMap<u64, &str> = BTreeMap::new();
        let mut last = 0;
        for c in &self.log {
            if let Command::Switched { addr, config_epoch, .. } = c {
                if let Some(other) = by_epoch.insert(*config_epoch, addr)
                    && other != addr
                {
                    self.fail("one_master_per_epoch", format!("epoch {config_epoch}: {other} and {addr}"));
                }
                if *config_epoch <= last {
                    self.fail("one_master_per_epoch", format!("config epoch {config_epoch} after {last}"));
                }
                last = *config_epoch;
            }
        }
    }

    /// A random fault, now and then.
    fn fault(&mut self) {
        match self.rng.random_range(0..100) {
            // The current master dies (if it is the only master alive).
            0..=2 => {
                let master = self.state.masters["mymaster"].addr.clone();
                let alive = self.data.values().filter(|n| n.alive).count();
                if alive > 1
                    && let Some(n) = self.data.get_mut(&master)
                {
                    n.alive = false;
                }
            }
            // A dead node comes back (as it was: an old master returns).
            3..=4 => {
                if let Some(n) = self.data.values_mut().find(|n| !n.alive) {
                    n.alive = true;
                }
            }
            // A sentinel is cut off; the leader may be the one.
            5 => {
                let cut = self.rng.random_range(0..3);
                self.majority = (0..3).filter(|s| *s != cut).collect();
                if self.leader == Some(cut) || self.leader.is_none() {
                    let new = *self.majority.iter().next().expect("two left");
                    self.leader = Some(new);
                    self.believes[new] = true; // the cut-off one keeps believing it leads
                }
            }
            // Healed: the cut-off sentinel learns who leads.
            6..=7 => {
                self.majority = (0..3).collect();
                for s in 0..3 {
                    self.believes[s] = self.leader == Some(s);
                }
            }
            // A sentinel crashes and restarts: a fresh monitor from the group's state; what it was
            // doing (a failover it led, a switch it was retrying) is lost with the process.
            9 => {
                let s = self.rng.random_range(0..3);
                let rec = self.state.masters["mymaster"].clone();
                let mut m = Monitor::new("mymaster", rec.addr.clone(), Sim::params(), self.now);
                m.agreement = Agreement::group();
                self.monitors[s] = m;
                self.pending.retain(|(_, p, _)| *p != s);
                self.switches.retain(|(p, ..)| *p != s);
                self.believes[s] = false;
                if self.leader == Some(s) {
                    let others: Vec<usize> = self.majority.iter().copied().filter(|p| *p != s).collect();
                    let new = others[self.rng.random_range(0..others.len())];
                    self.leader = Some(new);
                    self.believes[new] = true;
                }
            }
            // Leadership moves within the majority side.
            8 => {
                let side: Vec<usize> = self.majority.iter().copied().collect();
                let new = side[self.rng.random_range(0..side.len())];
                for s in &side {
                    self.believes[*s] = *s == new;
                }
                self.leader = Some(new);
            }
            _ => {}
        }
    }

    /// Heal everything, bring nodes back, and check that every sentinel converges and every
    /// data node replicates from the group's master.
    fn settle_and_check(&mut self) {
        self.majority = (0..3).collect();
        for n in self.data.values_mut() {
            n.alive = true;
        }
        for s in 0..3 {
            self.believes[s] = self.leader == Some(s);
        }
        for _ in 0..400 {
            self.step();
        }
        let rec = self.state.masters["mymaster"].clone();
        for (s, m) in self.monitors.iter().enumerate() {
            if m.master != rec.addr || m.config_epoch != rec.config_epoch {
                self.fail(
                    "converge_to_the_highest_epoch",
                    format!(
                        "sentinel {s} answers {} (epoch {}), the group {} (epoch {})",
                        m.master, m.config_epoch, rec.addr, rec.config_epoch
                    ),
                );
            }
        }
        for (addr, n) in &self.data {
            let right = if *addr == rec.addr {
                n.role == Role::Master
            } else {
                n.role == Role::Replica && n.follows.as_deref() == Some(rec.addr.as_str())
            };
            if !right {
                self.fail(
                    "replicas_follow_the_master",
                    format!("{addr} is {:?} following {:?}; the group's master is {}", n.role, n.follows, rec.addr),
                );
            }
        }
    }
}

#[test]
fn two_hundred_seeded_runs_keep_every_safety_check() {
    let mut failovers = 0;
    for seed in 0..200 {
        let mut sim = Sim::new(seed);
        sim.loss = [0.0, 0.2, 0.5][(seed % 3) as usize];
        for _ in 0..600 {
            sim.fault();
            sim.step();
        }
        sim.settle_and_check();
        failovers += sim.log.iter().filter(|c| matches!(c, Command::Switched { .. })).count();
    }
    // The faults must actually exercise failovers, or the checks prove nothing.
    assert!(failovers >= 100, "only {failovers} failovers in 200 runs");
}
