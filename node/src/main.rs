//! `vigil-node` command line: load the configuration, bind, serve until told to stop.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, reload};
use vigil_node::config::Config;
use vigil_node::server::{self, Server};

/// Command line of `vigil-node`. Flags override the configuration file.
#[derive(Parser, Debug)]
#[command(name = "vigil-node", version, about = "Vigil's Redis-compatible data node")]
struct Args {
    /// YAML configuration file; keys are Redis parameter names (port, bind, requirepass, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// TCP port (default 6379; 0 picks a free port).
    #[arg(long)]
    port: Option<String>,
    /// Addresses to listen on, separated by spaces (default 127.0.0.1).
    #[arg(long)]
    bind: Option<String>,
    /// Password clients must give with AUTH or HELLO.
    #[arg(long)]
    requirepass: Option<String>,
    /// Working directory for files the node writes.
    #[arg(long)]
    dir: Option<String>,
    /// debug, verbose, notice, warning or nothing.
    #[arg(long)]
    loglevel: Option<String>,
    /// Start as a replica of this master: "HOST PORT".
    #[arg(long, value_name = "\"HOST PORT\"")]
    replicaof: Option<String>,
    /// Any other parameter, as NAME=VALUE (repeatable), e.g. --set maxclients=100.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

fn filter_for(level: &str) -> EnvFilter {
    let l = match level {
        "debug" => "debug",
        "verbose" => "debug",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    };
    EnvFilter::new(format!("{l},h2=warn,tower=warn"))
}

fn load(args: &Args) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::load_file(p)?,
        None => Config::default(),
    };
    let flags = [
        ("port", &args.port),
        ("bind", &args.bind),
        ("requirepass", &args.requirepass),
        ("dir", &args.dir),
        ("loglevel", &args.loglevel),
        ("replicaof", &args.replicaof),
    ];
    for (name, v) in flags {
        if let Some(v) = v {
            cfg.set(name, v, false).map_err(|e| anyhow::anyhow!("command line --{name}: {e}"))?;
        }
    }
    for kv in &args.set {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| anyhow::anyhow!("command line --set {kv}: expected NAME=VALUE"))?;
        cfg.set(k, v, false).map_err(|e| anyhow::anyhow!("command line --set: {e}"))?;
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil-node: {e:#}");
            return ExitCode::from(1);
        }
    };
    let (filter, handle) = reload::Layer::new(filter_for(&cfg.loglevel));
    use tracing_subscriber::prelude::*;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil-node: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(cfg, handle)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("vigil-node: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(cfg: Config, log: reload::Handle<EnvFilter, tracing_subscriber::Registry>) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for addr in &cfg.bind {
        let addr = addr.trim_start_matches('-');
        let l = tokio::net::TcpListener::bind((addr, cfg.port))
            .await
            .with_context(|| format!("cannot listen on {addr}:{}", cfg.port))?;
        listeners.push(l);
    }
    let port = listeners.first().and_then(|l| l.local_addr().ok()).map_or(cfg.port, |a| a.port());
    let shutdown = CancellationToken::new();
    let mut srv = Server::new(cfg, port, shutdown.clone());
    srv.set_loglevel = Some(Box::new(move |level: &str| {
        let _ = log.reload(filter_for(level));
    }));
    let srv = Arc::new(srv);
    tracing::info!(port, run_id = %srv.run_id, "vigil-node {} ready to accept connections", env!("CARGO_PKG_VERSION"));
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("received a shutdown signal");
        signals.cancel();
    });
    server::run(listeners, srv).await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
