//! Replication commands: REPLICAOF / SLAVEOF, ROLE, and the master side of the handshake
//! (REPLCONF, PSYNC, SYNC).

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::repl::master::SyncRequest;
use crate::repl::{LinkState, MasterInfo};
use crate::reply::Reply;
use crate::server::Server;

/// Makes this node a replica of `host:port`, or a master (`None`). `l` must hold every shard.
pub fn set_master(srv: &Server, l: &mut Locked<'_>, target: Option<(String, u16)>) {
    let replica = target.is_some();
    for s in l.all() {
        for db in s.dbs.iter_mut() {
            db.set_replica(replica);
        }
    }
    let readonly = replica && srv.config.read().flag("replica-read-only");
    {
        let mut repl = srv.repl.lock();
        match &target {
            Some((host, port)) => {
                repl.master = Some(MasterInfo {
                    host: host.clone(),
                    port: *port,
                    state: LinkState::Connect,
                    last_io: None,
                    down_since: None,
                    read_offset: repl.offset,
                    sync_in_progress: false,
                });
                // Our replicas must resync with the new history: drop them.
                for r in std::mem::take(&mut repl.replicas).into_values() {
                    drop(r.tx);
                }
                srv.set_feeding(false);
            }
            None => {
                if repl.master.take().is_some() {
                    repl.shift_replid();
                }
                let has_backlog = repl.backlog.is_some();
                srv.set_feeding(has_backlog);
            }
        }
    }
    srv.set_readonly(readonly);
    srv.refresh_cached_settings();
    // CONFIG GET/REWRITE report the role a REPLICAOF (or a sentinel) gave us.
    let value = target.as_ref().map_or(String::new(), |(h, p)| format!("{h} {p}"));
    let _ = srv.config.write().set("replicaof", &value, false);
    srv.replicaof.send_replace(target);
}

/// REPLICAOF host port | REPLICAOF NO ONE (also SLAVEOF)
pub fn replicaof(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if is(&a[1], "NO") && is(&a[2], "ONE") {
        if ctx.srv.repl.lock().master.is_some() {
            tracing::warn!("MASTER MODE enabled (user request from client id {})", ctx.session.info.id);
            set_master(ctx.srv, l, None);
        }
        return Ok(Reply::Ok);
    }
    let port = args::int(&a[2])
        .ok()
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::msg("Invalid master port"))?;
    let host = args::text(&a[1]);
    let same = ctx.srv.repl.lock().master.as_ref().is_some_and(|m| m.host == host && m.port as i64 == port);
    if same {
        return Ok(Reply::Status("OK Already connected to specified master"));
    }
    tracing::warn!("REPLICAOF {host}:{port} enabled (user request from client id {})", ctx.session.info.id);
    set_master(ctx.srv, l, Some((host, port as u16)));
    Ok(Reply::Ok)
}

/// The `NOREPLICAS` check of `min-replicas-to-write`: enough online replicas acknowledged
/// within `min-replicas-max-lag` seconds?
pub fn enough_replicas(srv: &Server) -> bool {
    let (need, max_lag) = {
        let c = srv.config.read();
        (c.int("min-replicas-to-write"), c.int("min-replicas-max-lag"))
    };
    if need <= 0 {
        return true;
    }
    let repl = srv.repl.lock();
    let good = repl.online().filter(|r| r.ack_time.elapsed().as_secs() as i64 <= max_lag).count();
    good as i64 >= need
}

/// REPLCONF option value [option value ...]
pub fn replconf(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in a[1..].chunks(2) {
        if is(&pair[0], "listening-port") {
            ctx.session.replica_port = args::int(&pair[1]).ok().filter(|p| (0..=65535).contains(p)).unwrap_or(0) as u16;
        } else if is(&pair[0], "ip-address") {
            ctx.session.replica_ip = Some(args::text(&pair[1]));
        } else if is(&pair[0], "ACK") || is(&pair[0], "GETACK") {
            // Only meaningful on a replication link; never answered.
            return Ok(Reply::None);
        }
        // capa, ip-address, version and unknown options are accepted silently.
    }
    Ok(Reply::Ok)
}

/// PSYNC replicationid offset
pub fn psync(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    start_sync(ctx, SyncRequest { replid: args::text(&a[1]), offset: args::int(&a[2]).unwrap_or(-1), psync: true })
}

/// SYNC (the pre-PSYNC protocol: always a full sync)
pub fn sync(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    start_sync(ctx, SyncRequest { replid: "?".into(), offset: -1, psync: false })
}

fn start_sync(ctx: &mut Ctx<'_>, req: SyncRequest) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::msg("Replica can't be started in MULTI"));
    }
    let link_down = ctx.srv.repl.lock().master.as_ref().is_some_and(|m| m.state != LinkState::Connected);
    if link_down {
        return Err(CmdError::Coded("NOMASTERLINK Can't SYNC while not connected with my master".into()));
    }
    ctx.session.psync = Some(req);
    Ok(Reply::None)
}

/// WAIT numreplicas timeout
///
/// Blocks the client (not the server) until `numreplicas` replicas acknowledged everything
/// this client wrote, or `timeout` ms pass (0: no timeout); answers how many did. The waiting
/// is done by the connection ([`crate::repl::master::wait_for_acks`]) after this returns.
pub fn wait(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if ctx.srv.repl.lock().master.is_some() {
        return Err(CmdError::msg(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let n = args::int(&a[1])?;
    let timeout = args::int(&a[2])?;
    if timeout < 0 {
        return Err(CmdError::msg("timeout is negative"));
    }
    let offset = ctx.session.woff;
    let acked = ctx.srv.repl.lock().replicas.values().filter(|r| r.ack_offset >= offset).count();
    if n <= 0 || acked as i64 >= n || ctx.session.multi.is_some() {
        return Ok(Reply::Int(acked as i64));
    }
    let deadline = (timeout > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64));
    ctx.session.wait = Some(crate::session::WaitFor { offset, replicas: n as usize, deadline });
    Ok(Reply::None)
}

/// ROLE
pub fn role(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    let repl = ctx.srv.repl.lock();
    Ok(match &repl.master {
        Some(m) => Reply::Array(vec![
            Reply::bulk_static(b"slave"),
            Reply::text(m.host.clone()),
            Reply::Int(m.port as i64),
            Reply::bulk(m.state.name().as_bytes()),
            Reply::Int(if m.state == LinkState::Connected { repl.offset } else { -1 }),
        ]),
        None => Reply::Array(vec![
            Reply::bulk_static(b"master"),
            Reply::Int(repl.offset),
            Reply::Array(
                repl.online()
                    .map(|r| {
                        Reply::Array(vec![
                            Reply::text(r.ip.clone()),
                            Reply::text(r.port.to_string()),
                            Reply::text(r.ack_offset.to_string()),
                        ])
                    })
                    .collect(),
            ),
        ]),
    })
}

/// The `# Replication` section of INFO.
pub fn info_section(srv: &Server, out: &mut String) {
    use std::fmt::Write as _;
    let cfg = srv.config.read().clone();
    let repl = srv.repl.lock();
    out.push_str("# Replication\r\n");
    let mut f = |k: &str, v: String| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match &repl.master {
        Some(m) => {
            f("role", "slave".into());
            f("master_host", m.host.clone());
            f("master_port", m.port.to_string());
            let up = m.state == LinkState::Connected;
            f("master_link_status", if up { "up" } else { "down" }.into());
            f("master_last_io_seconds_ago", m.last_io.map_or(-1, |t| t.elapsed().as_secs() as i64).to_string());
            f("master_sync_in_progress", (m.sync_in_progress as u8).to_string());
            f("slave_read_repl_offset", m.read_offset.to_string());
            f("slave_repl_offset", repl.offset.to_string());
            if !up {
                f(
                    "master_link_down_since_seconds",
                    m.down_since.map_or(-1, |t| t.elapsed().as_secs() as i64).to_string(),
                );
            }
            f("slave_priority", cfg.int("replica-priority").to_string());
            f("slave_read_only", (cfg.flag("replica-read-only") as u8).to_string());
            f("replica_announced", (cfg.flag("replica-announced") as u8).to_string());
        }
        None => f("role", "master".into()),
    }
    f("connected_slaves", repl.replicas.len().to_string());
    for (i, r) in repl.replicas.values().enumerate() {
        let lag = if r.state == crate::repl::ReplicaState::Online { r.ack_time.elapsed().as_secs() } else { 0 };
        f(
            &format!("slave{i}"),
            format!("ip={},port={},state={},offset={},lag={lag}", r.ip, r.port, r.state.name(), r.ack_offset),
        );
    }
    f("master_failover_state", "no-failover".into());
    f("master_replid", repl.replid.clone());
    f("master_replid2", repl.replid2.clone());
    f("master_repl_offset", repl.offset.to_string());
    f("second_repl_offset", repl.second_offset.to_string());
    let (active, first, histlen) = match &repl.backlog {
        Some(b) => (1, b.first_byte(), b.histlen()),
        None => (0, 0, 0),
    };
    f("repl_backlog_active", active.to_string());
    f("repl_backlog_size", repl.backlog_size.to_string());
    f("repl_backlog_first_byte_offset", first.to_string());
    f("repl_backlog_histlen", histlen.to_string());
}
