//! INFO: the sections and field names of Redis 7, filled from our state.
//!
//! Tools (redis-cli, exporters, Redis Sentinel) parse these fields by name, so names and formats
//! follow Redis exactly; fields describing machinery we do not have yet (persistence,
//! replication) report the idle values Redis reports when that machinery is idle.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::db::{Locked, ShardStats};
use crate::server::{Server, unix_ms};

/// Sections in `INFO` / `INFO default` order.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Renders the requested sections (`[]` means default). `l` must hold every shard.
pub fn render(srv: &Server, l: &mut Locked<'_>, requested: &[String]) -> String {
    let wanted: Vec<&str> = if requested.is_empty() {
        DEFAULT.to_vec()
    } else if requested.iter().any(|s| s == "all" || s == "everything") {
        let mut v = DEFAULT.to_vec();
        v.insert(10, "commandstats");
        v
    } else if requested.iter().any(|s| s == "default") {
        DEFAULT.to_vec()
    } else {
        DEFAULT.iter().copied().chain(["commandstats"]).filter(|s| requested.iter().any(|r| r == s)).collect()
    };
    let mut out = String::with_capacity(4096);
    for (i, section) in wanted.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server(srv, &mut out),
            "clients" => clients(srv, &mut out),
            "memory" => memory(srv, &mut out),
            "persistence" => persistence(srv, &mut out),
            "stats" => stats(srv, l, &mut out),
            "replication" => crate::cmd::replication::info_section(srv, &mut out),
            "cpu" => cpu(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "errorstats" => out.push_str("# Errorstats\r\n"),
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "commandstats" => out.push_str("# Commandstats\r\n"),
            "keyspace" => keyspace(srv, l, &mut out),
            _ => {}
        }
    }
    out
}

macro_rules! field {
    ($out:expr, $name:expr, $val:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $val);
    };
}

fn server(srv: &Server, out: &mut String) {
    let up = srv.started.elapsed().as_secs();
    let cfg = srv.config.read();
    out.push_str("# Server\r\n");
    field!(out, "redis_version", crate::cmd::connection::REDIS_VERSION);
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", 0);
    field!(out, "redis_build_id", "0");
    field!(out, "redis_mode", "standalone");
    field!(out, "os", format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
    field!(out, "arch_bits", 64);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", srv.run_id);
    field!(out, "tcp_port", srv.port);
    field!(out, "server_time_usec", unix_ms() * 1000);
    field!(out, "uptime_in_seconds", up);
    field!(out, "uptime_in_days", up / 86400);
    field!(out, "hz", cfg.hz);
    field!(out, "configured_hz", cfg.hz);
    field!(out, "lru_clock", (unix_ms() / 1000) & ((1 << 24) - 1));
    field!(out, "executable", std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
    field!(out, "config_file", cfg.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
    field!(out, "io_threads_active", 0);
    field!(out, "vigil_version", env!("CARGO_PKG_VERSION"));
}

fn clients(srv: &Server, out: &mut String) {
    let all = srv.clients.snapshot();
    let pubsub = all.iter().filter(|c| c.kind() == crate::clients::ClientKind::PubSub).count();
    out.push_str("# Clients\r\n");
    field!(out, "connected_clients", all.len());
    field!(out, "cluster_connections", 0);
    field!(out, "maxclients", srv.config.read().maxclients);
    field!(
        out,
        "client_recent_max_input_buffer",
        all.iter().map(|c| c.qbuf.load(Ordering::Relaxed)).max().unwrap_or(0)
    );
    field!(out, "client_recent_max_output_buffer", 0);
    field!(out, "blocked_clients", 0);
    field!(out, "tracking_clients", 0);
    field!(out, "pubsub_clients", pubsub);
    field!(out, "clients_in_timeout_table", 0);
}

/// Bytes and a human form (`1.50M`), as Redis prints sizes.
fn human(n: u64) -> String {
    let f = n as f64;
    if f < 1024.0 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", f / 1024.0 / 1024.0 / 1024.0)
    }
}

fn memory(srv: &Server, out: &mut String) {
    let used = crate::sys::heap_bytes();
    let rss = crate::sys::rss_bytes();
    let maxmemory = srv.config.read().get("maxmemory").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    out.push_str("# Memory\r\n");
    field!(out, "used_memory", used);
    field!(out, "used_memory_human", human(used));
    field!(out, "used_memory_rss", rss);
    field!(out, "used_memory_rss_human", human(rss));
    field!(out, "used_memory_peak", used);
    field!(out, "used_memory_peak_human", human(used));
    field!(out, "maxmemory", maxmemory);
    field!(out, "maxmemory_human", human(maxmemory));
    field!(out, "maxmemory_policy", "noeviction");
    field!(out, "mem_fragmentation_ratio", format!("{:.2}", if used > 0 { rss as f64 / used as f64 } else { 0.0 }));
    field!(out, "mem_allocator", "libc");
}

fn persistence(srv: &Server, out: &mut String) {
    out.push_str("# Persistence\r\n");
    field!(out, "loading", 0);
    field!(out, "async_loading", 0);
    field!(out, "rdb_changes_since_last_save", 0);
    field!(out, "rdb_bgsave_in_progress", 0);
    field!(out, "rdb_last_save_time", srv.lastsave.load(Ordering::Relaxed));
    field!(out, "rdb_last_bgsave_status", "ok");
    field!(out, "aof_enabled", 0);
    field!(out, "aof_rewrite_in_progress", 0);
    field!(out, "aof_last_bgrewrite_status", "ok");
    field!(out, "aof_last_write_status", "ok");
}

fn shard_totals(l: &mut Locked<'_>) -> ShardStats {
    let mut t = ShardStats::default();
    for s in l.all() {
        t.expired_keys += s.stats.expired_keys;
        t.keyspace_hits += s.stats.keyspace_hits;
        t.keyspace_misses += s.stats.keyspace_misses;
    }
    t
}

fn stats(srv: &Server, l: &mut Locked<'_>, out: &mut String) {
    let s = &srv.stats;
    let t = shard_totals(l);
    let traffic = srv.clients.traffic();
    out.push_str("# Stats\r\n");
    field!(out, "total_connections_received", s.connections_received.load(Ordering::Relaxed));
    field!(out, "total_commands_processed", traffic.commands);
    field!(out, "instantaneous_ops_per_sec", 0);
    field!(out, "total_net_input_bytes", traffic.net_in);
    field!(out, "total_net_output_bytes", traffic.net_out);
    field!(out, "rejected_connections", s.rejected_connections.load(Ordering::Relaxed));
    let sync = srv.repl.lock().stats;
    field!(out, "sync_full", sync.sync_full);
    field!(out, "sync_partial_ok", sync.sync_partial_ok);
    field!(out, "sync_partial_err", sync.sync_partial_err);
    field!(out, "expired_keys", t.expired_keys);
    field!(out, "evicted_keys", 0);
    field!(out, "keyspace_hits", t.keyspace_hits);
    field!(out, "keyspace_misses", t.keyspace_misses);
    field!(out, "pubsub_channels", srv.pubsub.channels(None).len());
    field!(out, "pubsub_patterns", srv.pubsub.numpat());
    field!(out, "total_error_replies", s.error_replies.load(Ordering::Relaxed));
}

fn cpu(out: &mut String) {
    let (user, sys) = crate::sys::cpu_seconds();
    out.push_str("# CPU\r\n");
    field!(out, "used_cpu_sys", format!("{sys:.6}"));
    field!(out, "used_cpu_user", format!("{user:.6}"));
    field!(out, "used_cpu_sys_children", "0.000000");
    field!(out, "used_cpu_user_children", "0.000000");
}

fn keyspace(srv: &Server, l: &mut Locked<'_>, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let now = unix_ms();
    for dbi in 0..srv.keyspace.databases() {
        let (mut keys, mut expires) = (0usize, 0usize);
        for s in l.all() {
            keys += s.dbs[dbi].len();
            expires += s.dbs[dbi].expires_len();
        }
        let _ = now;
        if keys > 0 {
            let _ = write!(out, "db{dbi}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}
