//! `vigil-sentinel` command line: monitor masters, fail them over, answer clients.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use vigil_sentinel::core::monitor::Params;
use vigil_sentinel::daemon::{self, MasterConfig};

/// Command line of `vigil-sentinel`.
#[derive(Parser, Debug)]
#[command(name = "vigil-sentinel", version, about = "Vigil sentinel: monitors masters and fails them over")]
struct Args {
    /// Port of the client API (0 picks a free one).
    #[arg(long, default_value_t = 26379)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Folder for the sentinel's state (its id).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// A master to monitor: NAME HOST PORT QUORUM (repeatable).
    #[arg(long, num_args = 4, value_names = ["NAME", "HOST", "PORT", "QUORUM"], action = clap::ArgAction::Append)]
    monitor: Vec<String>,
    /// down-after-milliseconds for every monitored master.
    #[arg(long, default_value_t = 30_000)]
    down_after_ms: u64,
    /// failover-timeout for every monitored master.
    #[arg(long, default_value_t = 180_000)]
    failover_timeout_ms: u64,
    /// parallel-syncs for every monitored master.
    #[arg(long, default_value_t = 1)]
    parallel_syncs: usize,
}

fn masters(args: &Args) -> anyhow::Result<Vec<MasterConfig>> {
    args.monitor
        .chunks(4)
        .map(|m| {
            let port: u16 =
                m[2].parse().with_context(|| format!("--monitor {}: port '{}' is not a port", m[0], m[2]))?;
            let quorum: usize =
                m[3].parse().ok().filter(|q| *q >= 1).with_context(|| {
                    format!("--monitor {}: quorum '{}' must be an integer of at least 1", m[0], m[3])
                })?;
            let params = Params {
                down_after_ms: args.down_after_ms,
                failover_timeout_ms: args.failover_timeout_ms,
                parallel_syncs: args.parallel_syncs.max(1),
                quorum,
                ..Params::default()
            };
            Ok(MasterConfig { name: m[0].clone(), addr: format!("{}:{port}", m[1]), params })
        })
        .collect()
}

/// This sentinel's id: read from `dir`, or made once and saved (written atomically).
fn myid(dir: &std::path::Path) -> anyhow::Result<String> {
    let path = dir.join("vigil-sentinel.myid");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_string();
        if id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(id);
        }
    }
    let mut b = [0u8; 20];
    rand::fill(&mut b);
    let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt().with_target(false).with_ansi(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil-sentinel: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-sentinel: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let masters = masters(&args)?;
    let myid = myid(&args.dir)?;
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let port = listener.local_addr()?.port();
    let shutdown = CancellationToken::new();
    let saved = vigil_sentinel::state::load(&args.dir).map_err(anyhow::Error::msg)?;
    let (core, events, core_task) = daemon::start(myid.clone(), args.dir.clone(), masters, saved, shutdown.clone());
    tracing::info!(port, %myid, "vigil-sentinel {} ready to accept connections", env!("CARGO_PKG_VERSION"));
    let signals = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        signals.cancel();
    });
    let term = shutdown.clone();
    tokio::spawn(async move {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
            term.cancel();
        }
    });
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(vigil_sentinel::api::serve(stream, core.clone(), events.clone(), shutdown.clone()));
                }
            }
        }
    }
    let _ = core_task.await;
    Ok(())
}
