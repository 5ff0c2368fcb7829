//! `vigil up`: a complete local HA group as processes on loopback.
//!
//! A master, two replicas and three sentinels, each on its own loopback address (see
//! [`crate::local`]), with a fault proxy in front of each data node and a control socket that
//! `vigil drill` uses to kill, pause, restart, partition and slow them. `--redis` runs the same
//! group with Debian's redis-server and Redis Sentinel instead, for side-by-side drills.
//!
//! Layout in `--dir` (default `./vigil-local`): `master/`, `replica-1/`, `replica-2/`,
//! `sentinel-1/` .. `sentinel-3/` (each process's data), `<name>.log` beside them, and
//! `control.sock`. The processes are children of this command: Ctrl-C (or SIGTERM) stops them
//! all, and so does this command dying, since each child is killed when its handle is dropped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use vigil_proto::{Client, Frame};

use crate::local::{Flavor, NAMES, PUBLIC, Plan, Proc, free_port};

/// `vigil up` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder for the data and logs of every process.
    #[arg(long, default_value = "vigil-local")]
    pub dir: PathBuf,
    /// Port of the master; the replicas take the next two. 0: free ports chosen for you.
    #[arg(long, default_value_t = 7000)]
    pub port: u16,
    /// Port of the first sentinel's RESP API; the others take the next two, and their gRPC
    /// ports are these plus 100. 0: free ports chosen for you.
    #[arg(long, default_value_t = 26379)]
    pub sentinel_port: u16,
    /// The sentinels' down-after-milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub down_after_ms: u64,
    /// Where vigil-node and vigil-sentinel are (default: beside this executable).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Run Debian's redis-server and Redis Sentinel instead (same topology), to compare.
    #[arg(long)]
    pub redis: bool,
}

/// `println!` that ignores a closed stdout: whoever started `vigil up` may stop reading its
/// output (a test that read up to "ready.", a pipe into `head`), and the group must not die of
/// that — `println!` would panic on EPIPE and the panic would kill every child.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

async fn cmd(addr: &str, args: &[&str]) -> Option<Frame> {
    let mut c = Client::connect(addr, Duration::from_millis(500)).await.ok()?;
    c.cmd(args).await.ok()
}

/// A field of `SENTINEL MASTER mymaster` on the sentinel at `addr`.
pub async fn master_field(addr: &str, field: &str) -> Option<String> {
    let Frame::Array(items) = cmd(addr, &["SENTINEL", "MASTER", "mymaster"]).await? else { return None };
    let texts: Vec<String> = items
        .iter()
        .map(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default())
        .collect();
    texts.chunks(2).find(|kv| kv[0] == field).map(|kv| kv[1].clone())
}

async fn wait_for(
    what: &str,
    procs: &Mutex<Vec<Proc>>,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        for p in procs.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            if p.pid().is_none() {
                bail!("{} exited while waiting for {what}: see its log", p.name);
            }
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three ports from `base` on, or free ones when `base` is 0.
fn ports(base: u16) -> anyhow::Result<Vec<u16>> {
    (0..3).map(|i| if base == 0 { free_port(PUBLIC) } else { Ok(base + i) }).collect()
}

/// Three ports from `base` on, or 0s (bound to free ports at launch) when `base` is 0.
fn data_ports(base: u16) -> Vec<u16> {
    (0..3).map(|i| if base == 0 { 0 } else { base + i }).collect()
}

/// Runs `vigil up`.
pub async fn run(a: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir.display()))?;
    let api = ports(a.sentinel_port)?;
    let mut plan = Plan {
        flavor: if a.redis { Flavor::Redis } else { Flavor::Vigil },
        dir: a.dir.clone(),
        data: data_ports(a.port),
        grpc: if a.sentinel_port == 0 { ports(0)? } else { api.iter().map(|p| p + 100).collect() },
        api,
        down_after_ms: a.down_after_ms,
        bins: crate::bin_dir(&a.bin_dir),
    };
    let flavor = if a.redis { "redis-server + Redis Sentinel" } else { "vigil-node + vigil-sentinel" };
    say!("starting a master, two replicas and three sentinels ({flavor}) in {} ...", a.dir.display());
    let procs = Arc::new(Mutex::new(crate::local::launch(&mut plan).await?));
    let addrs: Vec<String> =
        procs.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|p| p.addr.to_string()).collect();
    wait_for("every process to answer PING", &procs, Duration::from_secs(30), async || {
        for addr in &addrs {
            if cmd(addr, &["PING"]).await.is_none() {
                return false;
            }
        }
        true
    })
    .await?;
    // The node answering behind each proxy must be the one we started.
    for i in 0..3 {
        let info = cmd(&addrs[i], &["INFO", "server"])
            .await
            .and_then(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()));
        let pid = info.as_deref().and_then(|t| t.lines().find_map(|l| l.strip_prefix("process_id:"))).map(str::trim);
        let ours = procs.lock().unwrap_or_else(|e| e.into_inner())[i].pid().map(|p| p.to_string());
        if pid.is_none() || pid.map(str::to_string) != ours {
            bail!("{} is answered by another process than the {} we started: try other ports", addrs[i], NAMES[i]);
        }
    }
    let redis = a.redis;
    wait_for("the sentinels to agree on the group", &procs, Duration::from_secs(60), async || {
        for addr in &addrs[3..] {
            let replicas = master_field(addr, "num-slaves").await;
            // Every sentinel knows both others: in a vigil group, it has heard their reports;
            // Redis Sentinels find each other through the master's hello channel.
            let others = if redis {
                master_field(addr, "num-other-sentinels").await.as_deref() == Some("2")
            } else {
                match cmd(addr, &["INFO", "sentinel"]).await {
                    Some(f) => f
                        .as_bytes()
                        .is_some_and(|t| String::from_utf8_lossy(t).contains("sentinel_group_peers_alive:2")),
                    None => false,
                }
            };
            if replicas.as_deref() != Some("2") || !others {
                return false;
            }
        }
        true
    })
    .await?;
    // And the replicas have their first sync behind them (Redis delays it by
    // repl-diskless-sync-delay), so a client's WAIT succeeds from the start.
    wait_for("both replicas to be in sync", &procs, Duration::from_secs(60), async || {
        cmd(&addrs[0], &["INFO", "replication"])
            .await
            .and_then(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).matches("state=online").count()))
            == Some(2)
    })
    .await?;
    crate::control::serve(&crate::local::control_path(&a.dir), procs.clone())?;

    say!();
    say!("{:<12} {:<30} log", "process", "address");
    for (i, name) in NAMES.iter().enumerate() {
        let addr =
            if i < 3 || a.redis { addrs[i].clone() } else { format!("{} (gRPC {})", addrs[i], plan.grpc[i - 3]) };
        say!("{:<12} {:<30} {}", name, addr, a.dir.join(format!("{name}.log")).display());
    }
    let (m, s1) = (&addrs[0], &addrs[3]);
    let (mh, mp) = m.rsplit_once(':').unwrap_or((m, ""));
    let (sh, sp) = s1.rsplit_once(':').unwrap_or((s1, ""));
    say!();
    say!("ready. Try:");
    say!("  redis-cli -h {sh} -p {sp} SENTINEL get-master-addr-by-name mymaster");
    say!("  redis-cli -h {mh} -p {mp} SET hello world");
    say!("  vigil status --sentinel {s1}");
    say!("  vigil drill kill-master --dir {}   # or pause-master, partition-master, ...", a.dir.display());
    say!("Ctrl-C stops everything.");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    say!("stopping ...");
    let _ = std::fs::remove_file(crate::local::control_path(&a.dir));
    procs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    say!("stopped; data and logs stay in {}", a.dir.display());
    Ok(())
}
