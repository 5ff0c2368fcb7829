//! What the sentinel group agrees on, and how a command changes it: a pure, deterministic state
//! machine applied in Raft log order by every sentinel, so every sentinel holds the same state
//! after the same entries.
//!
//! For each monitored master: its current address, quorum, options (Redis's `SENTINEL SET`
//! names), config epoch and the epoch of the last failover started. The group's membership is
//! Raft's own and lives beside it (see [`super::machine`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A change proposed through the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Monitor a master. The same definition again is accepted (every sentinel may be started
    /// with the same `--monitor`); another definition under the same name is refused.
    Monitor {
        /// Group name.
        name: String,
        /// `ip:port`.
        addr: String,
        /// Quorum.
        quorum: u32,
        /// Options to start with (used only if the master is new to the group).
        options: Vec<(String, String)>,
    },
    /// Stop monitoring a master.
    Remove {
        /// Group name.
        name: String,
    },
    /// Set options (`SENTINEL SET` names and values, validated before proposing).
    SetOptions {
        /// Group name.
        name: String,
        /// `(option, value)` pairs.
        options: Vec<(String, String)>,
    },
    /// The leader started a failover of `master` in `config_epoch`. Applied only while
    /// `master` is still the group's master: a start proposed for a master the group has
    /// switched away from in the meantime is stale.
    FailoverStarted {
        /// Group name.
        name: String,
        /// The master being failed over, as the proposer saw it (`ip:port`). Empty in entries
        /// logged before this field existed, which are replayed unchecked, as they were applied.
        #[serde(default)]
        master: String,
        /// The new epoch (a fencing token).
        config_epoch: u64,
    },
    /// The leader saw these replicas: the group knows them from now on.
    AddReplicas {
        /// Group name.
        name: String,
        /// `ip:port` of each.
        addrs: Vec<String>,
    },
    /// The group forgets the instances it knew besides the master (`SENTINEL RESET`).
    ForgetReplicas {
        /// Group name.
        name: String,
    },
    /// A failover ended: `addr` is the master from `config_epoch` on; the old master joins the
    /// instances the group knows besides the master.
    Switched {
        /// Group name.
        name: String,
        /// The new master.
        addr: String,
        /// Its config epoch.
        config_epoch: u64,
    },
}

/// The outcome of applying a command (the same on every sentinel).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Applied {
    /// Applied (or already in force).
    #[default]
    Done,
    /// Refused, with Redis's error text (`ERR No such master with that name`, ...).
    Refused(String),
}

/// One monitored master as the group knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterRecord {
    /// The current master.
    pub addr: String,
    /// Quorum.
    pub quorum: u32,
    /// Options set with `SENTINEL SET`.
    pub options: BTreeMap<String, String>,
    /// The config epoch of `addr`.
    pub config_epoch: u64,
    /// The epoch of the last failover started (>= `config_epoch`).
    pub failover_epoch: u64,
    /// Instances known besides the master: the replicas a leader saw, and the former masters.
    /// Every member monitors them, so that an old master returning (or a replica promoted by a
    /// failover that never finished) is converted to a replica even by a sentinel that was
    /// down, or not yet a member, when it was last seen: what Redis keeps as `known-replica`
    /// lines in each sentinel's own file.
    #[serde(default)]
    pub replicas: BTreeSet<String>,
}

/// The replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupState {
    /// Monitored masters by name.
    pub masters: BTreeMap<String, MasterRecord>,
}

const NO_SUCH: &str = "ERR No such master with that name";

impl GroupState {
    /// Applies one command.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        match cmd {
            Command::Monitor { name, addr, quorum, options } => match self.masters.get(name) {
                Some(m) if m.quorum == *quorum && (m.addr == *addr || m.config_epoch > 0) => Applied::Done,
                Some(_) => Applied::Refused("ERR Duplicate master name.".into()),
                None => {
                    let record = MasterRecord {
                        addr: addr.clone(),
                        quorum: *quorum,
                        options: options.iter().cloned().collect(),
                        config_epoch: 0,
                        failover_epoch: 0,
                        replicas: BTreeSet::new(),
                    };
                    self.masters.insert(name.clone(), record);
                    Applied::Done
                }
            },
            Command::AddReplicas { name, addrs } => match self.masters.get_mut(name) {
                Some(m) => {
                    let others = addrs.iter().filter(|a| **a != m.addr).cloned().collect::<Vec<_>>();
                    m.replicas.extend(others);
                    Applied::Done
                }
                None => Applied::Refused(NO_SUCH.into()),
            },
            Command::ForgetReplicas { name } => match self.masters.get_mut(name) {
                Some(m) => {
                    m.replicas.clear();
                    Applied::Done
                }
                None => Applied::Refused(NO_SUCH.into()),
            },
            Command::Remove { name } => match self.masters.remove(name) {
                Some(_) => Applied::Done,
                None => Applied::Refused(NO_SUCH.into()),
            },
            Command::SetOptions { name, options } => match self.masters.get_mut(name) {
                None => Applied::Refused(NO_SUCH.into()),
                Some(m) => {
                    for (k, v) in options {
                        if k == "quorum" {
                            if let Ok(q) = v.parse() {
                                m.quorum = q;
                            }
                        } else {
                            m.options.insert(k.clone(), v.clone());
                        }
                    }
                    Applied::Done
                }
            },
            Command::FailoverStarted { name, master, config_epoch } => match self.masters.get_mut(name) {
                None => Applied::Refused(NO_SUCH.into()),
                Some(m) if *config_epoch <= m.failover_epoch => {
                    Applied::Refused(format!("ERR stale failover epoch {config_epoch}"))
                }
                // Found by the kill-leader drill: a new leader proposed a failover of the dead
                // master just as the switch away from it committed; applied, that start held
                // every conversion back for failover-timeout.
                Some(m) if !master.is_empty() && *master != m.addr => {
                    Applied::Refused(format!("ERR stale failover: the master of {name} is now {}", m.addr))
                }
                Some(m) => {
                    m.failover_epoch = *config_epoch;
                    Applied::Done
                }
            },
            Command::Switched { name, addr, config_epoch } => match self.masters.get_mut(name) {
                None => Applied::Refused(NO_SUCH.into()),
                // The higher config epoch wins; a switch from an older failover is stale.
                Some(m) if *config_epoch <= m.config_epoch => {
                    Applied::Refused(format!("ERR stale config epoch {config_epoch}"))
                }
                Some(m) => {
                    if m.addr != *addr {
                        let old = std::mem::replace(&mut m.addr, addr.clone());
                        m.replicas.insert(old);
                    }
                    m.replicas.remove(addr);
                    m.config_epoch = *config_epoch;
                    m.failover_epoch = m.failover_epoch.max(*config_epoch);
                    Applied::Done
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(name: &str, addr: &str, quorum: u32) -> Command {
        Command::Monitor { name: name.into(), addr: addr.into(), quorum, options: vec![] }
    }

    #[test]
    fn the_same_monitor_twice_is_idempotent_another_definition_is_refused() {
        let mut s = GroupState::default();
        assert_eq!(s.apply(&monitor("m", "10.0.0.1:6379", 2)), Applied::Done);
        assert_eq!(s.apply(&monitor("m", "10.0.0.1:6379", 2)), Applied::Done);
        assert_eq!(s.apply(&monitor("m", "10.0.0.9:6379", 2)), Applied::Refused("ERR Duplicate master name.".into()));
        assert_eq!(s.masters.len(), 1);
    }

    #[test]
    fn a_restarted_sentinels_old_monitor_line_is_accepted_after_a_failover() {
        // Every sentinel keeps `--monitor m <old master>` on its command line: after a switch it
        // must not be refused, and must not move the master back.
        let mut s = GroupState::default();
        s.apply(&monitor("m", "10.0.0.1:6379", 2));
        s.apply(&Command::FailoverStarted { name: "m".into(), master: "10.0.0.1:6379".into(), config_epoch: 1 });
        s.apply(&Command::Switched { name: "m".into(), addr: "10.0.0.2:6379".into(), config_epoch: 1 });
        assert_eq!(s.apply(&monitor("m", "10.0.0.1:6379", 2)), Applied::Done);
        assert_eq!(s.masters["m"].addr, "10.0.0.2:6379");
    }

    #[test]
    fn the_group_remembers_replicas_and_former_masters_until_reset() {
        let mut s = GroupState::default();
        s.apply(&monitor("m", "a:1", 2));
        let switch = |addr: &str, epoch| Command::Switched { name: "m".into(), addr: addr.into(), config_epoch: epoch };
        s.apply(&switch("b:1", 1));
        assert_eq!(s.masters["m"].replicas, BTreeSet::from(["a:1".to_string()]));
        // Back to a:1: it is the master again, and b:1 the former one.
        s.apply(&switch("a:1", 2));
        assert_eq!(s.masters["m"].replicas, BTreeSet::from(["b:1".to_string()]));
        s.apply(&switch("c:1", 3));
        assert_eq!(s.masters["m"].replicas, BTreeSet::from(["a:1".to_string(), "b:1".to_string()]));
        assert_eq!(s.apply(&Command::ForgetReplicas { name: "m".into() }), Applied::Done);
        assert!(s.masters["m"].replicas.is_empty());
        // Replicas the leader saw; the master itself is never its own replica.
        let seen = Command::AddReplicas { name: "m".into(), addrs: vec!["c:1".into(), "d:1".into()] };
        assert_eq!(s.apply(&seen), Applied::Done);
        assert_eq!(s.masters["m"].replicas, BTreeSet::from(["d:1".to_string()]));
        assert_eq!(s.apply(&Command::ForgetReplicas { name: "x".into() }), Applied::Refused(NO_SUCH.into()));
    }

    #[test]
    fn epochs_only_go_forward() {
        let mut s = GroupState::default();
        s.apply(&monitor("m", "a:1", 1));
        assert_eq!(
            s.apply(&Command::FailoverStarted { name: "m".into(), master: "a:1".into(), config_epoch: 3 }),
            Applied::Done
        );
        assert!(matches!(
            s.apply(&Command::FailoverStarted { name: "m".into(), master: "a:1".into(), config_epoch: 3 }),
            Applied::Refused(_)
        ));
        assert_eq!(
            s.apply(&Command::Switched { name: "m".into(), addr: "b:1".into(), config_epoch: 3 }),
            Applied::Done
        );
        assert!(matches!(
            s.apply(&Command::Switched { name: "m".into(), addr: "c:1".into(), config_epoch: 2 }),
            Applied::Refused(_)
        ));
        assert_eq!((s.masters["m"].addr.as_str(), s.masters["m"].config_epoch), ("b:1", 3));
        assert_eq!(s.apply(&Command::Remove { name: "m".into() }), Applied::Done);
        assert_eq!(s.apply(&Command::Remove { name: "m".into() }), Applied::Refused(NO_SUCH.into()));
    }

    #[test]
    fn a_failover_start_for_a_master_the_group_switched_away_from_is_refused() {
        // The kill-leader drill: the new leader proposes a failover of the dead master a:1 while
        // the dead leader's switch to b:1 is being committed; the switch lands first.
        let mut s = GroupState::default();
        s.apply(&monitor("m", "a:1", 2));
        let start = |epoch| Command::FailoverStarted { name: "m".into(), master: "a:1".into(), config_epoch: epoch };
        assert_eq!(s.apply(&start(1)), Applied::Done);
        assert_eq!(
            s.apply(&Command::Switched { name: "m".into(), addr: "b:1".into(), config_epoch: 1 }),
            Applied::Done
        );
        assert_eq!(s.apply(&start(2)), Applied::Refused("ERR stale failover: the master of m is now b:1".into()));
        assert_eq!((s.masters["m"].config_epoch, s.masters["m"].failover_epoch), (1, 1), "no failover pending");
        // A start for the current master is applied.
        let current = Command::FailoverStarted { name: "m".into(), master: "b:1".into(), config_epoch: 2 };
        assert_eq!(s.apply(&current), Applied::Done);
        assert_eq!(s.masters["m"].failover_epoch, 2);
    }

    #[test]
    fn a_logged_start_without_its_master_replays_unchecked() {
        // Entries written before `master` existed are JSON without it.
        let old = r#"{"FailoverStarted":{"name":"m","config_epoch":1}}"#;
        let cmd: Command = serde_json::from_str(old).expect("old entry");
        let mut s = GroupState::default();
        s.apply(&monitor("m", "a:1", 2));
        assert_eq!(s.apply(&cmd), Applied::Done);
    }
}
