//! `vigil-sentinel` command line: monitor masters, fail them over, answer clients.
//!
//! Everything can come from a YAML file (`--config`, see [`vigil_sentinel::config`]) or from
//! flags; a flag given explicitly wins over the file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use vigil_sentinel::config::{self, MasterConfig};
use vigil_sentinel::daemon::{self, Boot};

/// Command line of `vigil-sentinel`.
#[derive(Parser, Debug)]
#[command(name = "vigil-sentinel", version, about = "Vigil sentinel: monitors masters and fails them over")]
struct Args {
    /// YAML configuration file (only read, never written).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port of the client API (default 26379; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long)]
    bind: Option<String>,
    /// Folder for the sentinel's state (its id, epochs, learnt topology); default ".".
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Address this sentinel advertises.
    #[arg(long)]
    announce_ip: Option<String>,
    /// Port this sentinel advertises.
    #[arg(long)]
    announce_port: Option<u16>,
    /// A master to monitor: NAME HOST PORT QUORUM (repeatable).
    #[arg(long, num_args = 4, value_names = ["NAME", "HOST", "PORT", "QUORUM"], action = clap::ArgAction::Append)]
    monitor: Vec<String>,
    /// down-after-milliseconds for every --monitor master (default 30000).
    #[arg(long)]
    down_after_ms: Option<u64>,
    /// failover-timeout for every --monitor master (default 180000).
    #[arg(long)]
    failover_timeout_ms: Option<u64>,
    /// parallel-syncs for every --monitor master (default 1).
    #[arg(long)]
    parallel_syncs: Option<usize>,
    /// Log level: debug, verbose, notice, warning, nothing.
    #[arg(long)]
    loglevel: Option<String>,
    /// Join a sentinel group: serve its gRPC protocol on this port.
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Another member of the group: HOST:PORT of its gRPC server (repeatable; give every
    /// sentinel the same list of the others).
    #[arg(long)]
    peer: Vec<String>,
    /// Address the gRPC server listens on, and outgoing connections to peers come from
    /// unless --bind-source-addr is given (default: --bind).
    #[arg(long)]
    grpc_bind: Option<String>,
    /// HOST:PORT the other sentinels reach this one's gRPC server at, when it differs from the
    /// listening address (NAT, a proxy). It is this sentinel's identity in the group.
    #[arg(long)]
    announce_grpc: Option<String>,
    /// Local IP address of outgoing connections, to data nodes and to the other members
    /// (Redis's bind-source-addr; default: the system's choice).
    #[arg(long)]
    bind_source_addr: Option<String>,
    /// Join a running group (then `SENTINEL ADD-MEMBER <this grpc address>` on its leader)
    /// instead of forming a new one with the --peer list.
    #[arg(long)]
    join: bool,
}

fn flag_masters(args: &Args) -> anyhow::Result<Vec<MasterConfig>> {
    args.monitor
        .chunks(4)
        .map(|m| {
            let port: u16 =
                m[2].parse().with_context(|| format!("--monitor {}: port '{}' is not a port", m[0], m[2]))?;
            let quorum: usize =
                m[3].parse().ok().filter(|q| *q >= 1).with_context(|| {
                    format!("--monitor {}: quorum '{}' must be an integer of at least 1", m[0], m[3])
                })?;
            config::check_name(&m[0]).map_err(|e| anyhow::anyhow!("--monitor: {e}"))?;
            Ok(MasterConfig::new(&m[0], config::join(&m[1], port), quorum))
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

/// The file's settings with the flags laid over them.
fn settings(args: &Args) -> anyhow::Result<(config::FileConfig, Vec<MasterConfig>)> {
    let mut file = match &args.config {
        Some(p) => config::load_file(p).map_err(anyhow::Error::msg)?,
        None => config::FileConfig::default(),
    };
    if let Some(ip) = &args.announce_ip {
        file.global.announce_ip = ip.clone();
    }
    if let Some(p) = args.announce_port {
        file.global.announce_port = p;
    }
    if let Some(ip) = &args.bind_source_addr {
        file.global.set("bind-source-addr", ip, true).map_err(|e| anyhow::anyhow!("--bind-source-addr: {e}"))?;
    }
    if let Some(l) = &args.loglevel {
        file.global.set("loglevel", l, false).map_err(|e| anyhow::anyhow!("--loglevel: {e}"))?;
    }
    let mut masters = file.masters.clone();
    for m in flag_masters(args)? {
        if masters.iter().any(|f| f.name == m.name) {
            anyhow::bail!("--monitor {}: this master is also in the configuration file", m.name);
        }
        masters.push(m);
    }
    let from_flags: Vec<String> = args.monitor.chunks(4).map(|m| m[0].clone()).collect();
    for m in masters.iter_mut().filter(|m| from_flags.contains(&m.name)) {
        if let Some(v) = args.down_after_ms {
            m.params.down_after_ms = v.max(1);
        }
        if let Some(v) = args.failover_timeout_ms {
            m.params.failover_timeout_ms = v.max(1);
        }
        if let Some(v) = args.parallel_syncs {
            m.params.parallel_syncs = v.max(1);
        }
    }
    Ok((file, masters))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (file, masters) = settings(&args)?;
    vigil_sentinel::logging::init(&file.global.loglevel);
    let dir = args.dir.clone().or(file.dir.clone()).unwrap_or_else(|| PathBuf::from("."));
    let bind = args.bind.clone().or(file.bind.clone()).unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(file.port).unwrap_or(26379);
    let myid = myid(&dir)?;
    let source = file.global.bind_source_addr.parse::<std::net::IpAddr>().ok();
    if let Some(ip) = source {
        vigil_sentinel::daemon::link::set_source_addr(ip);
    }
    let state = vigil_sentinel::state::load(&dir).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind((bind.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {bind}:{port}"))?;
    let port = listener.local_addr()?.port();
    let shutdown = CancellationToken::new();
    let requirepass = file.global.requirepass.clone();
    let group = match args.grpc_port.or(file.grpc_port) {
        None => None,
        Some(grpc_port) => {
            let mut peers = file.peers.clone();
            for p in &args.peer {
                peers.push(config::check_peer(p).map_err(|e| anyhow::anyhow!("--peer: {e}"))?);
            }
            let grpc_bind = args.grpc_bind.clone().or(file.grpc_bind.clone()).unwrap_or_else(|| bind.clone());
            let host =
                if file.global.announce_ip.is_empty() { grpc_bind.clone() } else { file.global.announce_ip.clone() };
            let advertise = match args.announce_grpc.clone().or(file.announce_grpc.clone()) {
                Some(a) => config::check_peer(&a).map_err(|e| anyhow::anyhow!("--announce-grpc: {e}"))?,
                None if host == "0.0.0.0" || host == "::" => anyhow::bail!(
                    "--grpc-port with --bind {host}: set --announce-ip or --announce-grpc to the address the other sentinels reach"
                ),
                None => config::join(&host, grpc_port),
            };
            let listener = tokio::net::TcpListener::bind((grpc_bind.as_str(), grpc_port))
                .await
                .with_context(|| format!("cannot listen for the group on {grpc_bind}:{grpc_port}"))?;
            let listen = listener.local_addr()?;
            let local = source.or_else(|| grpc_bind.parse::<std::net::IpAddr>().ok().filter(|ip| !ip.is_unspecified()));
            let cfg = vigil_sentinel::group::node::GroupConfig {
                advertise: advertise.clone(),
                listen,
                peers,
                local,
                join: args.join,
            };
            let joined = vigil_sentinel::group::node::Group::start(cfg, listener, &dir, shutdown.clone()).await?;
            tracing::info!(%advertise, id = joined.0.id, "member of a sentinel group");
            Some(joined)
        }
    };
    let api_host = if file.global.announce_ip.is_empty() { bind.clone() } else { file.global.announce_ip.clone() };
    let api_port = if file.global.announce_port != 0 { file.global.announce_port } else { port };
    let api_addr = config::join(&api_host, api_port);
    let boot = Boot { myid: myid.clone(), dir, port, global: file.global, masters, state, group, api_addr };
    let (core, events, core_task) = daemon::start(boot, shutdown.clone());
    let shared = Arc::new(vigil_sentinel::api::Shared { core, events, shutdown: shutdown.clone(), requirepass });
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
                    tokio::spawn(vigil_sentinel::api::serve(stream, shared.clone()));
                }
            }
        }
    }
    let _ = core_task.await;
    Ok(())
}
