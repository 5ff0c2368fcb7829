//! `vigil`: the operator's command.
//!
//! - `vigil up` starts a complete local HA group as processes on loopback — a master, two
//!   replicas and three sentinels forming one group (or, with `--redis`, the same on
//!   redis-server and Redis Sentinel) — with their data and logs in one folder, fault proxies in
//!   front of the data nodes and a control socket ([`local`], [`proxy`], [`control`]), prints
//!   where everything is and what to try, and stops everything on Ctrl-C.
//! - `vigil status` shows a group at a glance: the master and its epoch, the replicas with
//!   their offsets and lag, and what every sentinel answers.
//! - `vigil drill <scenario>` kills, pauses, partitions or slows part of the local group or of
//!   the compose containers ([`compose`]) under a writing client, and measures detection,
//!   switch, unavailability, lost acknowledged writes, split brain and rejoin ([`drill`]).
//!
//! The binaries `vigil-node` and `vigil-sentinel` are taken from the folder of this executable
//! (`cargo build --release --workspace --bins` puts them together), or from `--bin-dir`.

mod compose;
mod control;
mod drill;
mod local;
mod proxy;
mod status;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The vigil command line.
#[derive(Parser, Debug)]
#[command(name = "vigil", version, about = "Vigil: run and inspect a Redis-compatible HA group")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a master, two replicas and three sentinels on loopback; Ctrl-C stops them.
    Up(up::Args),
    /// Show who is master, the epochs, replica offsets and lag, and every sentinel's view.
    Status(status::Args),
    /// Inject a failure into the group's master under a writing client, and measure it.
    Drill(drill::Args),
}

/// Where the other binaries are: `--bin-dir`, else beside this executable.
pub fn bin_dir(given: &Option<PathBuf>) -> PathBuf {
    if let Some(d) = given {
        return d.clone();
    }
    std::env::current_exe().ok().and_then(|e| e.parent().map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(a) => up::run(a).await,
            Command::Status(a) => status::run(a).await,
            Command::Drill(a) => drill::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::from(1)
        }
    }
}
