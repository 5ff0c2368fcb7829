//! The driver's side of sentinel groups (see [`crate::group`]).
//!
//! In a group the monitored masters are not this sentinel's own configuration but the group's
//! replicated state: the masters of the config file are *proposed* at start (the same
//! definition from every sentinel is accepted once), `SENTINEL MONITOR/REMOVE/SET` are proposed
//! too, and a monitor exists here exactly while the group's state has the master. Each
//! committed change reaches every sentinel through the state machine's watch channel
//! (`Core::on_group_state`), in the same order everywhere.
//!
//! Every second each sentinel sends the others its SDOWN view of every master; the leader
//! proposes the failover start (new epoch) and, once the promotion is seen, the switch. The
//! other sentinels apply the switch from the log: `+switch-master`, the new address in
//! GET-MASTER-ADDR-BY-NAME, and their own links follow.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Core, MasterConfig, Msg};
use crate::core::agree::Agreement;
use crate::core::monitor::Event;
use crate::group::node::{Group, ProposeError};
use crate::group::service::PeerReport;
use crate::group::state::{Applied, Command, GroupState, MasterRecord};

/// Forwards the group's state changes, leadership changes and peer reports to the core task.
pub fn forward(group: &Group, mut reports: mpsc::Receiver<PeerReport>, tx: mpsc::Sender<Msg>, stop: CancellationToken) {
    let mut states = group.subscribe();
    let t = tx.clone();
    let s = stop.clone();
    tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            if t.send(Msg::GroupState(state)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = s.cancelled() => return,
                r = states.changed() => if r.is_err() { return },
            }
        }
    });
    let mut leading = group.watch_leadership();
    let t = tx.clone();
    let s = stop.clone();
    tokio::spawn(async move {
        loop {
            let leads = *leading.borrow_and_update();
            if t.send(Msg::Leader(leads)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = s.cancelled() => return,
                r = leading.changed() => if r.is_err() { return },
            }
        }
    });
    // The read barrier (see `Group::synced`): until it passes, this sentinel hands out no
    // master address. Its state is then sent again, so the core has applied it before `Synced`.
    let (g, t, s) = (group.clone(), tx.clone(), stop.clone());
    let mut synced = group.watch_synced();
    tokio::spawn(async move {
        let caught_up = tokio::select! {
            _ = s.cancelled() => false,
            r = synced.wait_for(|s| *s) => r.is_ok(),
        };
        if caught_up {
            let _ = t.send(Msg::GroupState(g.state())).await;
            let _ = t.send(Msg::Synced).await;
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = reports.recv() => match r {
                    Some(r) => if tx.send(Msg::Report(r)).await.is_err() { return },
                    None => return,
                },
            }
        }
    });
}

/// Proposes `cmd` until the group answers (an election may be under way), or `stop`.
pub async fn propose_until_answered(group: Group, cmd: Command, stop: CancellationToken) -> Option<Applied> {
    loop {
        match group.propose(cmd.clone()).await {
            Ok(a) => return Some(a),
            Err(e) => tracing::debug!("proposal not committed yet ({e}); retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// A proposal's outcome as a RESP reply.
pub fn reply(r: Result<Applied, ProposeError>) -> vigil_proto::Frame {
    match r {
        Ok(Applied::Done) => vigil_proto::Frame::simple("OK"),
        Ok(Applied::Refused(e)) => vigil_proto::Frame::error(e),
        Err(e) => vigil_proto::Frame::error(format!("NOQUORUM {e}")),
    }
}

impl Core {
    /// The configuration a replicated record describes, with this sentinel's timers.
    fn config_from(&self, name: &str, rec: &MasterRecord) -> MasterConfig {
        let mut cfg = MasterConfig::new(name, rec.addr.clone(), rec.quorum.max(1) as usize);
        cfg.params.info_period_ms = self.timers.get("info-period");
        cfg.params.ping_period_ms = self.timers.get("ping-period");
        cfg.params.reconf_timeout_ms = self.timers.get("slave-reconf-timeout");
        for (k, v) in &rec.options {
            if let Err(e) = crate::config::set_master_option(&mut cfg, k, v) {
                tracing::warn!(%name, "group option '{k}' ignored: {e}");
            }
        }
        cfg
    }

    /// The group's state changed: start, update or stop monitors to match it.
    pub(super) fn on_group_state(&mut self, state: GroupState) {
        for (name, rec) in &state.masters {
            let cfg = self.config_from(name, rec);
            if !self.monitors.contains_key(name) {
                // What this sentinel learnt before (known replicas) still helps; the group's
                // record decides the master and its epoch.
                let saved = self.saved.get(name).cloned().map(|mut s| {
                    // A master this sentinel saved that the group has since replaced is an old
                    // master: known as a replica, so that it is converted when it returns (found
                    // by the compose kill-leader drill: the restarted leader never knew it).
                    if !s.master.is_empty() && s.master != rec.addr && !s.replicas.contains(&s.master) {
                        let old = s.master.clone();
                        s.replicas.push(old);
                    }
                    s.master = rec.addr.clone();
                    s.config_epoch = rec.config_epoch;
                    s.current_epoch = s.current_epoch.max(rec.failover_epoch);
                    s
                });
                self.add_group(cfg, saved.as_ref());
                let leading = self.leading;
                if let Some(m) = self.monitors.get_mut(name) {
                    m.agreement = Agreement::group();
                    m.agreement.set_leader(leading);
                }
            } else if let Some(old) = self.configs.get(name).cloned() {
                let same = old.params == cfg.params
                    && old.auth_user == cfg.auth_user
                    && old.auth_pass == cfg.auth_pass
                    && old.notification_script == cfg.notification_script
                    && old.client_reconfig_script == cfg.client_reconfig_script;
                if !same {
                    if let Some(m) = self.monitors.get_mut(name) {
                        m.set_params(cfg.params);
                    }
                    let auth_changed = old.auth_user != cfg.auth_user || old.auth_pass != cfg.auth_pass;
                    self.configs.insert(name.clone(), MasterConfig { addr: old.addr, ..cfg });
                    if auth_changed {
                        self.close_links(name, None);
                        self.open_links(name);
                    }
                }
            }
            let group = Event::Group {
                addr: rec.addr.clone(),
                config_epoch: rec.config_epoch,
                failover_epoch: rec.failover_epoch,
                replicas: rec.replicas.iter().cloned().collect(),
            };
            self.step(name, group);
        }
        let gone: Vec<String> = self.monitors.keys().filter(|n| !state.masters.contains_key(*n)).cloned().collect();
        for name in gone {
            let addr = self.monitors.get(&name).map(|m| m.master.clone()).unwrap_or_default();
            let (ip, port) = crate::core::monitor::split(&addr);
            self.publish(Some(&name), "-monitor", format!("master {name} {ip} {port}"));
            self.close_links(&name, None);
            self.monitors.remove(&name);
            self.configs.remove(&name);
            self.runtime.remove(&name);
        }
        if let Err(e) = self.save() {
            tracing::warn!("cannot save the state: {e}");
        }
    }

    /// Leadership changed.
    pub(super) fn on_leader(&mut self, leads: bool) {
        if leads != self.leading {
            tracing::info!(leads, "sentinel group leadership changed");
        }
        self.leading = leads;
        let names: Vec<String> = self.monitors.keys().cloned().collect();
        for n in names {
            self.step(&n, Event::Leader(leads));
        }
    }

    /// A peer's report.
    pub(super) fn on_report(&mut self, r: PeerReport) {
        self.peer_seen.insert(r.from, self.now());
        self.peer_api.insert(r.from, r.api_addr.clone());
        let name = r.name.clone();
        self.step(&name, Event::PeerReport { from: r.from, addr: r.addr, sdown: r.sdown });
    }

    /// The other members of the group (0 alone).
    pub fn others(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.members().len().saturating_sub(1))
    }

    /// Members heard from within the report freshness window, at `now`.
    pub fn peers_alive(&self, now: u64) -> usize {
        self.peer_seen.values().filter(|t| now.saturating_sub(**t) <= crate::core::agree::REPORT_FRESH_MS).count()
    }

    /// Sends this sentinel's view of every master to the other members (every second).
    pub(super) fn send_reports(&self) {
        let Some(group) = &self.group else { return };
        let views: Vec<(String, String, bool)> =
            self.monitors.values().map(|m| (m.name.clone(), m.master.clone(), m.is_sdown(&m.master))).collect();
        group.send_reports(&views, &self.api_addr);
    }

    /// Proposes the configured masters to the group (at start).
    pub(super) fn propose_configured(&self, masters: Vec<MasterConfig>) {
        let Some(group) = self.group.clone() else { return };
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            for m in masters {
                let cmd = Command::Monitor {
                    name: m.name.clone(),
                    addr: m.addr.clone(),
                    quorum: m.params.quorum as u32,
                    options: m.options(),
                };
                match propose_until_answered(group.clone(), cmd, stop.clone()).await {
                    Some(Applied::Done) => tracing::info!(name = %m.name, "configured master known to the group"),
                    Some(Applied::Refused(e)) => {
                        tracing::warn!(name = %m.name, "the group refused the configured master: {e}")
                    }
                    None => return,
                }
            }
        });
    }

    /// Carries out a group action of `name`'s monitor.
    pub(super) fn propose_failover(&self, name: &str, master: String, epoch: u64) {
        let Some(group) = self.group.clone() else { return };
        let (tx, name) = (self.tx.clone(), name.to_string());
        tokio::spawn(async move {
            let cmd = Command::FailoverStarted { name: name.clone(), master, config_epoch: epoch };
            let ok = matches!(group.propose_as_leader(cmd).await, Ok(Applied::Done));
            tracing::info!(%name, epoch, ok, "failover start proposed to the group");
            let _ = tx.send(Msg::Link(name, Event::FailoverCommitted { epoch, ok })).await;
        });
    }

    /// Records replicas of `name` in the group (one attempt: the monitor asks again later).
    pub(super) fn propose_replicas(&self, name: &str, addrs: Vec<String>) {
        let Some(group) = self.group.clone() else { return };
        let cmd = Command::AddReplicas { name: name.to_string(), addrs };
        tokio::spawn(async move {
            if let Err(e) = group.propose(cmd).await {
                tracing::debug!("replicas not recorded in the group yet: {e}");
            }
        });
    }

    /// Makes the group forget the replicas and former masters of `name` (`SENTINEL RESET`), in the
    /// background (retried for 30 s while the group elects a leader).
    pub(super) fn propose_forget_replicas(&self, name: &str) {
        let Some(group) = self.group.clone() else { return };
        let cmd = Command::ForgetReplicas { name: name.to_string() };
        let (stop, name) = (self.shutdown.clone(), name.to_string());
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(30), propose_until_answered(group, cmd, stop)).await {
                Ok(Some(Applied::Done)) => tracing::info!(%name, "the group forgot the replicas it knew"),
                other => tracing::warn!(%name, "the group did not forget the replicas it knew: {other:?}"),
            }
        });
    }

    /// Commits a switch (retried while the group elects a leader).
    pub(super) fn propose_switch(&self, name: &str, addr: String, epoch: u64) {
        let Some(group) = self.group.clone() else { return };
        let cmd = Command::Switched { name: name.to_string(), addr, config_epoch: epoch };
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(30), propose_until_answered(group, cmd, stop)).await {
                Ok(Some(Applied::Done)) => tracing::info!(epoch, "switch committed by the group"),
                other => tracing::warn!(epoch, "switch not committed: {other:?}"),
            }
        });
    }
}
