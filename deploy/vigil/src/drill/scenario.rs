//! The scenarios: what each one does to the group, step by step, and what it waits for.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Args;
use super::client::{Shared, follows, info, lock, master_of};
use crate::control::{Control, Listed};

/// The scenarios.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// SIGKILL the master.
    KillMaster,
    /// SIGSTOP the master for 5 s, then SIGCONT.
    PauseMaster,
    /// Cut the master off from everyone (replicas, sentinels, clients) until the failover is
    /// done, then heal.
    PartitionMaster,
    /// Cut the master off from the sentinels only: its clients and replicas still reach it.
    PartitionMasterFromSentinels,
    /// SIGKILL the master, then the sentinel that leads the failover as soon as it announces
    /// the event given by `--at`; restart that sentinel at the end.
    KillLeader,
    /// SIGKILL the master, and once the failover is done start it again: it must come back as
    /// a replica of the new master.
    RestartMaster,
    /// SIGKILL a replica for 5 s, then start it again: no failover.
    KillReplica,
    /// Add 100 ms of one-way latency to all of the master's traffic for 10 s.
    SlowLinks,
}

pub(super) struct Drill {
    pub(super) ctl: Control,
    pub(super) procs: Vec<Listed>,
    pub(super) sentinels: Vec<String>,
    pub(super) log: Shared,
    pub(super) start: Instant,
    pub(super) fault_at: Duration,
    pub(super) deadline: Duration,
}

impl Drill {
    pub(super) fn name_of(&self, addr: &str) -> anyhow::Result<String> {
        self.procs
            .iter()
            .find(|p| p.addr == addr)
            .map(|p| p.name.clone())
            .with_context(|| format!("{addr} is not a process of this group"))
    }

    pub(super) fn phase(&self, p: &str) {
        lock(&self.log).phase = p.to_string();
    }

    /// The first event starting with `prefix` after the fault: (time, sentinel).
    pub(super) fn event(&self, prefix: &str) -> Option<(Duration, String)> {
        lock(&self.log)
            .events
            .iter()
            .find(|(t, _, e)| *t > self.fault_at && e.starts_with(prefix))
            .map(|(t, s, _)| (*t, s.clone()))
    }

    pub(super) async fn wait_event(&self, prefix: &str, limit: Duration) -> anyhow::Result<(Duration, String)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(e) = self.event(prefix) {
                return Ok(e);
            }
            if Instant::now() > deadline {
                bail!("no {prefix} within {} s of the fault", limit.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `+switch-master` up to the drill's deadline; `false` if none came (the result
    /// then says so: no failover is an outcome, not an error of the drill).
    pub(super) async fn wait_switch(&self) -> bool {
        self.phase("waiting for +switch-master");
        let ok = self.wait_event("+switch-master", self.deadline).await.is_ok();
        if !ok {
            eprintln!("  no +switch-master within {} s of the fault", self.deadline.as_secs());
        }
        ok
    }

    /// The master the sentinels answer, and whether it is not `old`.
    pub(super) async fn switched_from(&self, old: &str, group: &str) -> anyhow::Result<(String, bool)> {
        let now = master_of(&self.sentinels, group).await.context("no sentinel answers the master")?;
        let moved = now != old;
        Ok((now, moved))
    }

    /// Waits until `node` replicates from `master` with its link up; the time it took from now.
    pub(super) async fn wait_follows(&self, node: &str, master: &str) -> anyhow::Result<Duration> {
        self.phase(&format!("waiting for {node} to replicate from {master}"));
        let t0 = Instant::now();
        while !follows(node, master).await {
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("{node} did not become a replica of {master} within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(t0.elapsed())
    }

    /// After a failover, how long `old` takes from now to replicate from the new master; `None`
    /// when no failover happened.
    pub(super) async fn rejoin(&self, old: &str, group: &str) -> anyhow::Result<Option<Duration>> {
        let (new, moved) = self.switched_from(old, group).await?;
        Ok(if moved { Some(self.wait_follows(old, &new).await?) } else { None })
    }

    /// Leaves the group whole for the next drill: the killed old master is started again and
    /// must come back as a replica (not measured).
    pub(super) async fn restore(&mut self, name: &str, addr: &str, group: &str) -> anyhow::Result<()> {
        self.ctl.run(&format!("start {name}")).await?;
        let (now, moved) = self.switched_from(addr, group).await?;
        if moved {
            self.wait_follows(addr, &now).await?;
        } else {
            // No failover happened: it comes back as the master.
            while info(addr, "replication").await.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    pub(super) async fn settle(&self, d: Duration) {
        self.phase("writing on");
        tokio::time::sleep(d).await;
    }
}

/// Injects the scenario's fault and waits for its outcome; returns the rejoin time where the
/// scenario brings a node back, and the process to start again after the measurements.
pub(super) async fn scenario(a: &Args, d: &mut Drill, old: &str) -> anyhow::Result<(Option<Duration>, Option<String>)> {
    let master = d.name_of(old)?;
    d.fault_at = d.start.elapsed();
    eprintln!("drill {:?}: fault on {master} ({old}) at {:.2} s", a.scenario, d.fault_at.as_secs_f64());
    let two = Duration::from_secs(2);
    match a.scenario {
        Scenario::KillMaster => {
            d.ctl.run(&format!("kill {master}")).await?;
            d.wait_switch().await;
            d.settle(two).await;
            Ok((None, Some(master)))
        }
        Scenario::PauseMaster => {
            d.ctl.run(&format!("stop {master}")).await?;
            d.phase("master stopped (SIGSTOP) for 5 s");
            tokio::time::sleep(Duration::from_secs(5)).await;
            d.ctl.run(&format!("cont {master}")).await?;
            d.wait_switch().await;
            let r = d.rejoin(old, &a.name).await?;
            d.settle(two).await;
            Ok((r, None))
        }
        Scenario::PartitionMaster | Scenario::PartitionMasterFromSentinels => {
            let whom = if a.scenario == Scenario::PartitionMaster { "all" } else { "sentinels" };
            d.ctl.run(&format!("partition {master} {whom}")).await?;
            d.wait_switch().await;
            d.settle(two).await;
            d.ctl.run(&format!("heal {master}")).await?;
            eprintln!("  healed at {:.2} s", d.start.elapsed().as_secs_f64());
            let r = d.rejoin(old, &a.name).await?;
            d.settle(Duration::from_secs(1)).await;
            Ok((r, None))
        }
        Scenario::KillLeader => {
            d.ctl.run(&format!("kill {master}")).await?;
            d.phase(&format!("waiting for {}", a.at));
            let (_, leader) = d.wait_event(&a.at, Duration::from_secs(60)).await?;
            d.ctl.run(&format!("kill {leader}")).await?;
            eprintln!("  killed {leader} at {:.2} s, after its {}", d.start.elapsed().as_secs_f64(), a.at);
            d.wait_switch().await;
            d.settle(two).await;
            d.ctl.run(&format!("start {leader}")).await?;
            Ok((None, Some(master)))
        }
        Scenario::RestartMaster => {
            d.ctl.run(&format!("kill {master}")).await?;
            d.wait_switch().await;
            d.settle(Duration::from_secs(1)).await;
            d.ctl.run(&format!("start {master}")).await?;
            eprintln!("  restarted {master} at {:.2} s", d.start.elapsed().as_secs_f64());
            let r = d.rejoin(old, &a.name).await?;
            d.settle(Duration::from_secs(1)).await;
            Ok((r, None))
        }
        Scenario::KillReplica => {
            let mut replica = None;
            for p in d.procs.iter().filter(|p| !crate::local::is_sentinel(&p.name) && p.addr != old) {
                if follows(&p.addr, old).await {
                    replica = Some(p.clone());
                    break;
                }
            }
            let r = replica.context("the master has no replica to kill")?;
            d.ctl.run(&format!("kill {}", r.name)).await?;
            d.phase(&format!("{} killed for 5 s", r.name));
            tokio::time::sleep(Duration::from_secs(5)).await;
            d.ctl.run(&format!("start {}", r.name)).await?;
            let back = d.wait_follows(&r.addr, old).await?;
            d.settle(two).await;
            Ok((Some(back), None))
        }
        Scenario::SlowLinks => {
            d.ctl.run(&format!("delay {master} 100")).await?;
            d.phase("100 ms one-way delay on the master's links for 10 s");
            tokio::time::sleep(Duration::from_secs(10)).await;
            d.ctl.run(&format!("heal {master}")).await?;
            d.settle(two).await;
            Ok((None, None))
        }
    }
}
