//! `vigil-sentinel`: the high-availability daemon.
//!
//! For now it only reports its version; the monitoring, failure detection and failover
//! arrive with the sentinel issue.

use clap::Parser;

/// Command line of `vigil-sentinel`.
#[derive(Parser, Debug)]
#[command(name = "vigil-sentinel", version, about = "Vigil sentinel (not yet implemented: prints its version)")]
struct Args {}

fn main() {
    let _args = Args::parse();
    println!("vigil-sentinel {}", env!("CARGO_PKG_VERSION"));
}
