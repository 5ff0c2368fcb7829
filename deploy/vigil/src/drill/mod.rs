//! `vigil drill <scenario>`: a failure, made to happen under a writing client, and measured.
//!
//! The drill runs against the local group of `vigil up` (either flavour: vigil or Redis),
//! reaching its processes through `vigil up`'s control socket, or against the containers of the
//! compose topology through the Docker CLI (`--compose`, see [`crate::compose`]). Modules:
//! [`scenario`] (what each scenario does), [`client`] (the writer and the event watchers),
//! [`report`] (the measurements and their printing). While a client writes unique keys
//! through sentinel discovery (asking a sentinel for the master, re-asking after every error)
//! and logs each acknowledged write with the node that acknowledged it, the drill injects the
//! fault, watches every sentinel's events, and finally reads every acknowledged key back from
//! the master. It reports, as a table or JSON (see [`Report`]): time from the fault to `+sdown`,
//! `+odown` and `+switch-master`; the number of failovers; the client's unavailability window;
//! acknowledged writes and how many the master no longer has; the split-brain window; and, where
//! the scenario brings a node back, how long it took to rejoin.
//!
//! With `--wait 1` a write counts as acknowledged only once `WAIT 1` confirms a replica has it;
//! with `--min-replicas-to-write 1` every data node refuses writes without a replica. Either way,
//! no acknowledged write may then be lost.

mod client;
mod report;
mod scenario;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use vigil_proto::Frame;

use crate::control::Control;
use client::{Ack, CLIENT_IP, Shared, WriterArgs, connect, lock, master_of, watcher, writer};
use report::{Report, print, split_brain};
use scenario::{Drill, Scenario, scenario};

/// `vigil drill` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do to the group.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// The folder of the running `vigil up` (its control socket is there).
    #[arg(long, default_value = "vigil-local")]
    pub dir: PathBuf,
    /// Drill the containers of this docker-compose project instead (deploy/compose).
    #[arg(long)]
    pub compose: Option<String>,
    /// The master group's name.
    #[arg(long, default_value = "mymaster")]
    pub name: String,
    /// Count a write as acknowledged only after `WAIT <n> 1000` confirms n replicas.
    #[arg(long, default_value_t = 0)]
    pub wait: u32,
    /// Set min-replicas-to-write on every data node before the drill.
    #[arg(long)]
    pub min_replicas_to_write: Option<u32>,
    /// kill-leader: the sentinel event at which its publisher is killed.
    #[arg(long, default_value = "+elected-leader")]
    pub at: String,
    /// How long to wait for a failover before reporting that none happened (seconds).
    #[arg(long, default_value_t = 60)]
    pub deadline: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a drill.
pub async fn run(a: Args) -> anyhow::Result<()> {
    let mut ctl = match &a.compose {
        Some(project) => Control::Compose(crate::compose::Compose::open(project)?),
        None => Control::Local(crate::control::Socket::connect(&a.dir).await?),
    };
    let local = a.compose.is_none().then_some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let _ = CLIENT_IP.set(local);
    let procs = ctl.list().await?;
    let sentinels: Vec<String> =
        procs.iter().filter(|p| crate::local::is_sentinel(&p.name)).map(|p| p.addr.clone()).collect();
    let old = master_of(&sentinels, &a.name).await.context("no sentinel of the group knows the master")?;
    if let Some(n) = a.min_replicas_to_write {
        for p in procs.iter().filter(|p| !crate::local::is_sentinel(&p.name) && p.pid != 0) {
            let mut c =
                connect(&p.addr, Duration::from_secs(1)).await.with_context(|| format!("cannot reach {}", p.addr))?;
            c.cmd(&["CONFIG", "SET", "min-replicas-to-write", &n.to_string()]).await?;
        }
    }

    let start = Instant::now();
    let log: Shared = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for p in procs.iter().filter(|p| crate::local::is_sentinel(&p.name)) {
        tasks.push(tokio::spawn(watcher(p.addr.clone(), p.name.clone(), start, log.clone())));
    }
    let wa = WriterArgs { name: a.name.clone(), wait: a.wait, start, stop: stop.clone() };
    let write = tokio::spawn(writer(sentinels.clone(), wa, log.clone()));
    lock(&log).phase = "writing before the fault".into();
    let progress = {
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let g = lock(&log);
                eprintln!(
                    "  {:5.1} s: {} writes acknowledged; {}",
                    start.elapsed().as_secs_f64(),
                    g.acks.len(),
                    g.phase
                );
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await; // the workload runs before the fault

    let deadline = Duration::from_secs(a.deadline);
    let mut d = Drill { ctl, procs, sentinels, log: log.clone(), start, fault_at: Duration::ZERO, deadline };
    let result = scenario(&a, &mut d, &old).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = write.await;
    let end = start.elapsed();
    progress.abort();
    for t in tasks {
        t.abort();
    }
    let (rejoin, restore) = result?;

    // Read back every acknowledged key from the master (none to read when the master is dead
    // and nobody replaced it: `lost` is then unknown).
    let now = master_of(&d.sentinels, &a.name).await.context("no master after the drill")?;
    let mut nc = connect(&now, Duration::from_secs(1)).await;
    let (keys, acks, events) = {
        let g = lock(&log);
        let acks: Vec<Ack> = g.acks.values().map(|a| Ack { at: a.at, node: a.node.clone() }).collect();
        (g.acks.keys().copied().collect::<Vec<u64>>(), acks, g.events.clone())
    };
    let mut lost = nc.as_ref().map(|_| 0);
    if let Some(nc) = nc.as_mut() {
        for chunk in keys.chunks(500) {
            let mut args = vec!["MGET".to_string()];
            args.extend(chunk.iter().map(|k| format!("drill:{k}")));
            match nc.cmd(&args).await {
                Ok(Frame::Array(vals)) => {
                    let missing = vals.iter().filter(|v| matches!(v, Frame::NullBulk | Frame::Null)).count();
                    lost = lost.map(|l| l + missing);
                }
                // The address answers (a proxy) but no master behind it: unknown.
                _ => {
                    lost = None;
                    break;
                }
            }
        }
    }
    let since = |prefix: &str| d.event(prefix).map(|(t, _)| (t - d.fault_at).as_millis());
    let acks: Vec<&Ack> = acks.iter().collect();
    // Unavailability: the longest time without an acknowledged write from the fault to the end
    // of the drill (both ends count: no write at all after the fault is the whole drill).
    let mut points = vec![d.fault_at];
    points.extend(acks.iter().map(|a| a.at).filter(|t| *t > d.fault_at));
    points.push(end);
    let gap = points.windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap_or_default();
    let switches: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|(t, _, e)| *t > d.fault_at && e.starts_with("+switch-master"))
        .map(|(_, _, e)| e.as_str())
        .collect();
    let report = Report {
        scenario: format!("{:?}", a.scenario),
        old_master: old.clone(),
        new_master: (now != old).then_some(now),
        sdown_ms: since("+sdown master"),
        odown_ms: since("+odown"),
        switch_ms: since("+switch-master"),
        failovers: switches.len(),
        unavailable_ms: gap.as_millis(),
        acknowledged: acks.len(),
        lost,
        split_brain_ms: split_brain(&acks).as_millis(),
        rejoin_ms: rejoin.map(|r| r.as_millis()),
        wait_replicas: a.wait,
        min_replicas_to_write: a.min_replicas_to_write.unwrap_or(0),
    };
    print(&report, a.json);
    if let Some(name) = restore {
        d.restore(&name, &old, &a.name).await?;
    }
    Ok(())
}
