//! `vigil drill <scenario>`: a failure, made to happen under a writing client, and measured.
//!
//! While a client writes unique keys through sentinel discovery (asking the sentinel for the
//! master, re-asking after every error) and logs each acknowledged write with the node that
//! acknowledged it, the drill injects the fault into the group's master (a local process: the
//! group of `vigil up`), watches the sentinel's events, and then reads every acknowledged key
//! back from the new master. It reports, as a table or JSON:
//! - time from the fault to `+sdown`, `+odown` and `+switch-master`;
//! - the client's unavailability window (the longest gap between two acknowledged writes);
//! - acknowledged writes, and how many of them the new master does not have (lost);
//! - the split-brain window: how long the old master still acknowledged writes after the new
//!   master acknowledged its first one.
//!
//! With `--wait 1` a write counts as acknowledged only once `WAIT 1` confirms a replica has it:
//! then no acknowledged write may be lost.
//!
//! Scenarios: `kill-master` (SIGKILL), `pause-master` (SIGSTOP for 5 s, then SIGCONT).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use vigil_proto::{Client, Frame};

/// `vigil drill` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `kill-master` or `pause-master`.
    pub scenario: String,
    /// A sentinel of the group (host:port).
    #[arg(long, default_value = "127.0.0.1:26379")]
    pub sentinel: String,
    /// The master group's name.
    #[arg(long, default_value = "mymaster")]
    pub name: String,
    /// Count a write as acknowledged only after `WAIT <n> 1000` confirms n replicas.
    #[arg(long, default_value_t = 0)]
    pub wait: u32,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// An acknowledged write.
struct Ack {
    at: Duration,
    node: String,
}

#[derive(Default)]
struct Log {
    acks: BTreeMap<u64, Ack>,
    events: Vec<(Duration, String)>,
}

fn text(f: &Frame) -> String {
    f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

async fn master_of(sentinel: &str, name: &str) -> Option<String> {
    let mut c = Client::connect(sentinel, Duration::from_millis(500)).await.ok()?;
    match c.cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]).await.ok()? {
        Frame::Array(v) if v.len() == 2 => Some(format!("{}:{}", text(&v[0]), text(&v[1]))),
        _ => None,
    }
}

/// The client: writes `drill:<n>` as fast as it can (one at a time), through discovery.
async fn writer(
    sentinel: String,
    name: String,
    wait: u32,
    start: Instant,
    log: Arc<Mutex<Log>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut n: u64 = 0;
    let mut conn: Option<(String, Client)> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if conn.is_none() {
            if let Some(addr) = master_of(&sentinel, &name).await
                && let Ok(mut c) = Client::connect(&addr, Duration::from_millis(300)).await
            {
                c.set_timeout(Some(Duration::from_millis(1500)));
                conn = Some((addr, c));
            } else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let Some((addr, c)) = conn.as_mut() else { continue };
        n += 1;
        let key = format!("drill:{n}");
        let ok = match c.cmd(&["SET", &key, "1"]).await {
            Ok(Frame::Simple(_)) if wait == 0 => true,
            Ok(Frame::Simple(_)) => {
                matches!(c.cmd(&["WAIT", &wait.to_string(), "1000"]).await, Ok(Frame::Integer(r)) if r >= i64::from(wait))
            }
            _ => false,
        };
        if ok {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .acks
                .insert(n, Ack { at: start.elapsed(), node: addr.clone() });
        } else {
            conn = None; // an error or READONLY: rediscover
        }
    }
}

/// Collects the sentinel's events.
async fn watcher(sentinel: String, start: Instant, log: Arc<Mutex<Log>>) -> anyhow::Result<()> {
    let mut c = Client::connect(&sentinel, Duration::from_secs(1)).await.context("cannot reach the sentinel")?;
    c.set_timeout(None); // events may be seconds apart
    c.send(&["PSUBSCRIBE", "*"]).await?;
    loop {
        let f = c.read_frame().await?;
        if let Frame::Array(items) | Frame::Push(items) = f
            && items.len() == 4
            && text(&items[0]) == "pmessage"
        {
            let e = format!("{} {}", text(&items[2]), text(&items[3]));
            log.lock().unwrap_or_else(|e| e.into_inner()).events.push((start.elapsed(), e));
        }
    }
}

fn pid_of(info: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix("process_id:")).map(|p| p.trim().to_string())
}

fn signal(pid: &str, sig: &str) -> anyhow::Result<()> {
    let ok = std::process::Command::new("kill").args([&format!("-{sig}"), pid]).status()?.success();
    if !ok {
        bail!("kill -{sig} {pid} failed");
    }
    Ok(())
}

/// Runs a drill.
pub async fn run(a: Args) -> anyhow::Result<()> {
    if a.scenario != "kill-master" && a.scenario != "pause-master" {
        bail!("unknown scenario '{}': kill-master or pause-master", a.scenario);
    }
    let old = master_of(&a.sentinel, &a.name).await.context("the sentinel does not know the master")?;
    let mut mc = Client::connect(&old, Duration::from_secs(1))
        .await
        .with_context(|| format!("cannot reach the master {old}"))?;
    let info = text(&mc.cmd(&["INFO", "server"]).await?);
    let pid = pid_of(&info).context("the master's INFO has no process_id")?;
    drop(mc);

    let start = Instant::now();
    let log = Arc::new(Mutex::new(Log::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = tokio::spawn(watcher(a.sentinel.clone(), start, log.clone()));
    let write = tokio::spawn(writer(a.sentinel.clone(), a.name.clone(), a.wait, start, log.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await; // the workload runs before the fault
    let fault_at = start.elapsed();
    eprintln!("drill {}: fault on {old} (pid {pid}) at {:.2} s", a.scenario, fault_at.as_secs_f64());
    let sig = if a.scenario == "kill-master" { "KILL" } else { "STOP" };
    signal(&pid, sig)?;

    // Wait for the switch, then 2 s of writes on the new master.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut resumed = false;
    let mut switched_at = None;
    let mut ticks = 0u32;
    while Instant::now() < deadline {
        ticks += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (acked, switch) = {
            let g = log.lock().unwrap_or_else(|e| e.into_inner());
            let sw = g.events.iter().find(|(t, e)| *t > fault_at && e.starts_with("+switch-master")).map(|(t, _)| *t);
            (g.acks.len(), sw)
        };
        if ticks.is_multiple_of(5) {
            let state = if switch.is_some() { "switched" } else { "waiting for +switch-master" };
            eprintln!(
                "  {:.1} s after the fault: {acked} writes acknowledged, {state}",
                (start.elapsed() - fault_at).as_secs_f64()
            );
        }
        if a.scenario == "pause-master" && !resumed && start.elapsed() - fault_at >= Duration::from_secs(5) {
            signal(&pid, "CONT")?;
            resumed = true;
        }
        if let Some(t) = switch
            && switched_at.is_none()
        {
            switched_at = Some(t);
        }
        if switched_at.is_some_and(|t| start.elapsed() > t + Duration::from_secs(2))
            && (resumed || a.scenario == "kill-master")
        {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = write.await;
    watch.abort();
    let Some(switched_at) = switched_at else { bail!("no +switch-master within 120 s") };

    // Read back every acknowledged key from the new master.
    let new = master_of(&a.sentinel, &a.name).await.context("no master after the drill")?;
    let mut nc = Client::connect(&new, Duration::from_secs(1)).await.with_context(|| format!("cannot reach {new}"))?;
    let (acks, events) = {
        let g = log.lock().unwrap_or_else(|e| e.into_inner());
        (g.acks.iter().map(|(k, v)| (*k, v.at, v.node.clone())).collect::<Vec<_>>(), g.events.clone())
    };
    let mut lost = 0;
    for chunk in acks.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|(k, _, _)| format!("drill:{k}")).collect();
        let mut args = vec!["MGET".to_string()];
        args.extend(keys);
        if let Frame::Array(vals) = nc.cmd(&args).await? {
            lost += vals.iter().filter(|v| matches!(v, Frame::NullBulk | Frame::Null)).count();
        }
    }
    let since = |prefix: &str| {
        events.iter().find(|(t, e)| *t > fault_at && e.starts_with(prefix)).map(|(t, _)| (*t - fault_at).as_millis())
    };
    let gap = acks.windows(2).map(|w| w[1].1.saturating_sub(w[0].1)).max().unwrap_or_default().as_millis();
    let first_new = acks.iter().find(|(_, _, n)| *n != old).map(|(_, t, _)| *t);
    let last_old = acks.iter().rev().find(|(_, _, n)| *n == old).map(|(_, t, _)| *t);
    let split_brain = match (first_new, last_old) {
        (Some(f), Some(l)) if l > f => (l - f).as_millis(),
        _ => 0,
    };
    let result = [
        ("scenario", format!("\"{}\"", a.scenario)),
        ("old_master", format!("\"{old}\"")),
        ("new_master", format!("\"{new}\"")),
        ("sdown_ms", since("+sdown master").map_or("null".into(), |v| v.to_string())),
        ("odown_ms", since("+odown").map_or("null".into(), |v| v.to_string())),
        ("switch_ms", (switched_at - fault_at).as_millis().to_string()),
        ("unavailable_ms", gap.to_string()),
        ("acknowledged", acks.len().to_string()),
        ("lost", lost.to_string()),
        ("split_brain_ms", split_brain.to_string()),
        ("wait_replicas", a.wait.to_string()),
    ];
    if a.json {
        let body: Vec<String> = result.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        println!("{{{}}}", body.join(", "));
    } else {
        println!("| {} |", result.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(" | "));
        println!("|{}|", result.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
        println!("| {} |", result.iter().map(|(_, v)| v.trim_matches('"')).collect::<Vec<_>>().join(" | "));
    }
    Ok(())
}
