//! `vigil up`: a complete local HA group as processes on loopback.
//!
//! Layout in `--dir` (default `./vigil-local`): `master/`, `replica-1/`, `replica-2/`,
//! `sentinel-1/` .. `sentinel-3/` (each process's data), and `<name>.log` beside them. The
//! processes are children of this command: Ctrl-C (or SIGTERM) stops them all, and so does
//! this command dying, since each child is killed when its handle is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use vigil_proto::{Client, Frame};

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

/// A child process, killed when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `n` ports from `base` on, or free ones when `base` is 0.
fn ports(base: u16, n: u16) -> anyhow::Result<Vec<u16>> {
    if base == 0 { (0..n).map(|_| free_port()).collect() } else { Ok((0..n).map(|i| base + i).collect()) }
}

fn spawn(bin: &Path, name: &str, args: &[String], dir: &Path) -> anyhow::Result<Proc> {
    let log = File::create(dir.join(format!("{name}.log"))).with_context(|| format!("cannot create {name}.log"))?;
    let child =
        Command::new(bin).args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn().with_context(
            || format!("cannot start {} (build it: cargo build --release --workspace --bins)", bin.display()),
        )?;
    Ok(Proc { name: name.to_string(), child })
}

async fn cmd(port: u16, args: &[&str]) -> Option<Frame> {
    let mut c = Client::connect(&format!("127.0.0.1:{port}"), Duration::from_millis(500)).await.ok()?;
    c.cmd(args).await.ok()
}

/// A field of `SENTINEL MASTER mymaster` on the sentinel at `port`.
pub async fn master_field(port: u16, field: &str) -> Option<String> {
    let Frame::Array(items) = cmd(port, &["SENTINEL", "MASTER", "mymaster"]).await? else { return None };
    let texts: Vec<String> = items
        .iter()
        .map(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default())
        .collect();
    texts.chunks(2).find(|kv| kv[0] == field).map(|kv| kv[1].clone())
}

async fn wait_for(
    what: &str,
    procs: &mut [Proc],
    timeout: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!("{} exited ({status}) while waiting for {what}: see its log", p.name);
            }
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `vigil up`.
pub async fn run(a: Args) -> anyhow::Result<()> {
    let bins = crate::bin_dir(&a.bin_dir);
    let (node, sentinel) = (bins.join("vigil-node"), bins.join("vigil-sentinel"));
    std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir.display()))?;
    let data = ports(a.port, 3)?;
    let api = ports(a.sentinel_port, 3)?;
    let grpc = if a.sentinel_port == 0 { ports(0, 3)? } else { api.iter().map(|p| p + 100).collect() };

    let mut procs = Vec::new();
    for (i, name) in ["master", "replica-1", "replica-2"].iter().enumerate() {
        let d = a.dir.join(name);
        std::fs::create_dir_all(&d)?;
        let mut args = vec!["--port".into(), data[i].to_string(), "--dir".into(), d.display().to_string()];
        if i > 0 {
            args.extend(["--replicaof".into(), format!("127.0.0.1 {}", data[0])]);
        }
        procs.push(spawn(&node, name, &args, &a.dir)?);
    }
    for i in 0..3 {
        let name = format!("sentinel-{}", i + 1);
        let d = a.dir.join(&name);
        let mut args: Vec<String> = vec![
            "--port".into(),
            api[i].to_string(),
            "--dir".into(),
            d.display().to_string(),
            "--grpc-port".into(),
            grpc[i].to_string(),
            "--monitor".into(),
            "mymaster".into(),
            "127.0.0.1".into(),
            data[0].to_string(),
            "2".into(),
            "--down-after-ms".into(),
            a.down_after_ms.to_string(),
        ];
        for j in (0..3).filter(|j| *j != i) {
            args.extend(["--peer".into(), format!("127.0.0.1:{}", grpc[j])]);
        }
        procs.push(spawn(&sentinel, &name, &args, &a.dir)?);
    }

    say!("starting a master, two replicas and three sentinels in {} ...", a.dir.display());
    wait_for("every process to answer PING", &mut procs, Duration::from_secs(30), async || {
        for p in data.iter().chain(api.iter()) {
            if cmd(*p, &["PING"]).await.is_none() {
                return false;
            }
        }
        true
    })
    .await?;
    // With free ports picked for us, another program may have taken one in the meantime: the
    // node answering must be the one we started.
    for (i, p) in data.iter().enumerate() {
        let info = cmd(*p, &["INFO", "server"])
            .await
            .and_then(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()));
        let pid = info.as_deref().and_then(|t| t.lines().find_map(|l| l.strip_prefix("process_id:"))).map(str::trim);
        if pid != Some(procs[i].child.id().to_string().as_str()) {
            bail!("port {p} is answered by another process than the {} we started: try other ports", procs[i].name);
        }
    }
    wait_for("the sentinels to agree on the group", &mut procs, Duration::from_secs(60), async || {
        for p in &api {
            let replicas = master_field(*p, "num-slaves").await;
            // Every sentinel has heard from both others (their reports carry their addresses).
            let heard = match cmd(*p, &["INFO", "sentinel"]).await {
                Some(f) => {
                    f.as_bytes().is_some_and(|t| String::from_utf8_lossy(t).contains("sentinel_group_peers_alive:2"))
                }
                None => false,
            };
            if replicas.as_deref() != Some("2") || !heard {
                return false;
            }
        }
        true
    })
    .await?;

    say!();
    say!("{:<12} {:<18} log", "process", "address");
    for (i, name) in ["master", "replica-1", "replica-2"].iter().enumerate() {
        say!("{:<12} {:<18} {}", name, format!("127.0.0.1:{}", data[i]), a.dir.join(format!("{name}.log")).display());
    }
    for i in 0..3 {
        let name = format!("sentinel-{}", i + 1);
        let addr = format!("127.0.0.1:{} (gRPC {})", api[i], grpc[i]);
        say!("{:<12} {:<18} {}", name, addr, a.dir.join(format!("{name}.log")).display());
    }
    say!();
    say!("ready. Try:");
    say!("  redis-cli -p {} SENTINEL get-master-addr-by-name mymaster", api[0]);
    say!("  redis-cli -p {} SET hello world", data[0]);
    say!("  vigil status --sentinel 127.0.0.1:{}", api[0]);
    say!(
        "  kill -9 $(redis-cli -p {} INFO server | sed -n 's/^process_id://p' | tr -d '\\r')   # then watch the failover",
        data[0]
    );
    say!("Ctrl-C stops everything.");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    say!("stopping ...");
    drop(procs);
    say!("stopped; data and logs stay in {}", a.dir.display());
    Ok(())
}
