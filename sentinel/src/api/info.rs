//! `INFO` on a sentinel: the sections Redis Sentinel has (server, clients, cpu, stats,
//! sentinel), selected by name as Redis does (`INFO`, `INFO all`, `INFO sentinel`, several names).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::daemon::{Core, wall_ms};

/// Open API connections.
pub static CONNECTED: AtomicU64 = AtomicU64::new(0);
/// API connections accepted since start.
pub static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// API commands processed since start.
pub static COMMANDS: AtomicU64 = AtomicU64::new(0);

const SECTIONS: &[&str] = &["server", "clients", "cpu", "stats", "sentinel"];

/// CPU seconds used (user, system), from /proc/self/stat.
fn cpu() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0) };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

/// Renders the sections asked for.
pub fn render(core: &Core, args: &[Bytes]) -> String {
    let asked: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let all = asked.is_empty() || asked.iter().any(|a| a == "all" || a == "default" || a == "everything");
    let mut out = String::new();
    for s in SECTIONS {
        if !(all || asked.iter().any(|a| a == s)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&section(core, s));
    }
    out
}

fn section(core: &Core, name: &str) -> String {
    let uptime = core.now() / 1000;
    let lines: Vec<String> = match name {
        "server" => vec![
            "# Server".into(),
            "redis_version:7.0.15".into(),
            format!("vigil_version:{}", env!("CARGO_PKG_VERSION")),
            "redis_mode:sentinel".into(),
            format!("os:{}", std::env::consts::OS),
            format!("arch_bits:{}", usize::BITS),
            format!("process_id:{}", std::process::id()),
            format!("run_id:{}", core.myid),
            format!("tcp_port:{}", core.port),
            format!("uptime_in_seconds:{uptime}"),
            format!("uptime_in_days:{}", uptime / 86_400),
        ],
        "clients" => vec!["# Clients".into(), format!("connected_clients:{}", CONNECTED.load(Ordering::Relaxed))],
        "cpu" => {
            let (user, sys) = cpu();
            vec!["# CPU".into(), format!("used_cpu_sys:{sys:.6}"), format!("used_cpu_user:{user:.6}")]
        }
        "stats" => vec![
            "# Stats".into(),
            format!("total_connections_received:{}", ACCEPTED.load(Ordering::Relaxed)),
            format!("total_commands_processed:{}", COMMANDS.load(Ordering::Relaxed)),
        ],
        _ => {
            let (running, queued) = core.scripts.counts();
            let mut l = vec![
                "# Sentinel".into(),
                format!("sentinel_masters:{}", core.monitors.len()),
                format!("sentinel_tilt:{}", core.tilt.active() as u8),
                format!("sentinel_tilt_since_seconds:{}", core.tilt.since_seconds(wall_ms()).unwrap_or(-1)),
                format!("sentinel_total_tilt:{}", core.tilt.total),
                format!("sentinel_running_scripts:{running}"),
                format!("sentinel_scripts_queue_length:{queued}"),
                format!(
                    "sentinel_simulate_failure_flags:{}",
                    core.simulate.crash_after_election as u8 | (core.simulate.crash_after_promotion as u8) << 1
                ),
            ];
            if let Some(g) = &core.group {
                l.push(format!("sentinel_group_id:{:016x}", g.id));
                l.push(format!("sentinel_group_members:{}", core.others() + 1));
                l.push(format!("sentinel_group_leader:{}", core.leading as u8));
                l.push(format!("sentinel_group_synced:{}", core.synced as u8));
                l.push(format!("sentinel_group_peers_alive:{}", core.peers_alive(core.now())));
            }
            for (i, m) in core.monitors.values().enumerate() {
                let status = if m.is_odown() {
                    "odown"
                } else if m.is_sdown(&m.master) {
                    "sdown"
                } else {
                    "ok"
                };
                l.push(format!(
                    "master{i}:name={},status={status},address={},slaves={},sentinels={}",
                    m.name,
                    m.current_addr(),
                    m.replicas().len(),
                    core.others() + 1
                ));
            }
            l
        }
    };
    let mut s = lines.join("\r\n");
    s.push_str("\r\n");
    s
}
