//! The instance description maps of SENTINEL MASTER(S) and REPLICAS: Redis's field names and
//! order, every value a bulk string.

use super::fields;
use crate::config::MasterConfig;
use crate::core::monitor::{Monitor, split};
use vigil_proto::Frame;

/// The SENTINEL MASTER map of one group, in Redis's field order.
pub fn master_fields(m: &Monitor, cfg: Option<&MasterConfig>, others: usize, now: u64) -> Frame {
    let addr = m.current_addr().to_string();
    let (ip, port) = split(&addr);
    let st = m.instance(&m.master, now);
    let mut flags = vec!["master"];
    if st.as_ref().is_some_and(|s| s.sdown_ms.is_some()) {
        flags.push("s_down");
    }
    if m.is_odown() {
        flags.push("o_down");
    }
    if st.as_ref().is_some_and(|s| !s.connected) {
        flags.push("disconnected");
    }
    if m.failover_in_progress() {
        flags.push("failover_in_progress");
    }
    let reported_replica = st.as_ref().is_some_and(|s| s.info.role == crate::info::Role::Replica);
    let mut pairs = vec![
        ("name", m.name.clone()),
        ("ip", ip.to_string()),
        ("port", port.to_string()),
        ("runid", st.as_ref().and_then(|s| s.info.run_id.clone()).unwrap_or_default()),
        ("flags", flags.join(",")),
        ("link-pending-commands", "0".into()),
        ("link-refcount", "1".into()),
    ];
    if let Some(fs) = m.failover_state() {
        pairs.push(("failover-state", fs.into()));
    }
    let since_reply = st.as_ref().map_or(0, |s| s.since_reply_ms);
    pairs.push(("last-ping-sent", st.as_ref().map_or(0, |s| s.ping_pending_ms).to_string()));
    pairs.push(("last-ok-ping-reply", since_reply.to_string()));
    pairs.push(("last-ping-reply", st.as_ref().map_or(0, |s| s.since_any_reply_ms).to_string()));
    if let Some(d) = st.as_ref().and_then(|s| s.sdown_ms) {
        pairs.push(("s-down-time", d.to_string()));
    }
    pairs.extend([
        ("down-after-milliseconds", m.params.down_after_ms.to_string()),
        ("info-refresh", st.as_ref().and_then(|s| s.info_age_ms).unwrap_or(0).to_string()),
        ("role-reported", if reported_replica { "slave" } else { "master" }.into()),
        ("role-reported-time", st.as_ref().map_or(0, |s| s.role_reported_ms).to_string()),
        ("config-epoch", m.config_epoch.to_string()),
        ("num-slaves", m.replicas().len().to_string()),
        ("num-other-sentinels", others.to_string()),
        ("quorum", m.params.quorum.to_string()),
        ("failover-timeout", m.params.failover_timeout_ms.to_string()),
        ("parallel-syncs", m.params.parallel_syncs.to_string()),
    ]);
    if let Some(s) = cfg.and_then(|c| c.notification_script.clone()) {
        pairs.push(("notification-script", s));
    }
    if let Some(s) = cfg.and_then(|c| c.client_reconfig_script.clone()) {
        pairs.push(("client-reconfig-script", s));
    }
    fields(pairs)
}

/// The SENTINEL REPLICAS map of one replica (`None` for a replica with `replica-announced no`).
pub fn replica_fields(m: &Monitor, addr: &str, now: u64) -> Option<Frame> {
    let st = m.instance(addr, now)?;
    if !st.info.announced {
        return None; // replica-announced no: hidden, still eligible
    }
    let (ip, port) = split(addr);
    let mut flags = vec!["slave"];
    if st.sdown_ms.is_some() {
        flags.push("s_down");
    }
    if !st.connected {
        flags.push("disconnected");
    }
    let mut pairs = vec![
        ("name", addr.to_string()),
        ("ip", ip.to_string()),
        ("port", port.to_string()),
        ("runid", st.info.run_id.clone().unwrap_or_default()),
        ("flags", flags.join(",")),
        ("link-pending-commands", "0".into()),
        ("link-refcount", "1".into()),
        ("last-ping-sent", st.ping_pending_ms.to_string()),
        ("last-ok-ping-reply", st.since_reply_ms.to_string()),
        ("last-ping-reply", st.since_any_reply_ms.to_string()),
    ];
    if let Some(d) = st.sdown_ms {
        pairs.push(("s-down-time", d.to_string()));
    }
    pairs.extend([
        ("down-after-milliseconds", m.params.down_after_ms.to_string()),
        ("info-refresh", st.info_age_ms.unwrap_or(0).to_string()),
        ("role-reported", if st.info.role == crate::info::Role::Master { "master" } else { "slave" }.into()),
        ("role-reported-time", st.role_reported_ms.to_string()),
        ("master-link-down-time", st.info.master_link_down_ms.to_string()),
        ("master-link-status", if st.info.master_link_up { "ok" } else { "err" }.into()),
        ("master-host", st.info.master_host.clone().unwrap_or_else(|| "?".into())),
        ("master-port", st.info.master_port.map_or("0".into(), |p| p.to_string())),
        ("slave-priority", st.info.priority.to_string()),
        ("slave-repl-offset", st.info.repl_offset.to_string()),
        ("replica-announced", (st.info.announced as u8).to_string()),
    ]);
    Some(fields(pairs))
}

/// The SENTINEL SENTINELS maps: the other members of the group, with the RESP address they
/// report (ip and port), their group id as name and runid, and how long ago they were heard.
pub fn sentinel_fields(core: &crate::daemon::Core, now: u64) -> Vec<Frame> {
    let Some(group) = &core.group else { return Vec::new() };
    group
        .members()
        .into_keys()
        .filter(|id| *id != group.id)
        .map(|id| {
            let api = core.peer_api.get(&id).cloned().unwrap_or_default();
            let (ip, port) = split(&api);
            let heard = core.peer_seen.get(&id).map(|t| now.saturating_sub(*t));
            let alive = heard.is_some_and(|ms| ms <= crate::core::agree::REPORT_FRESH_MS);
            let id = format!("{id:016x}");
            fields(vec![
                ("name", id.clone()),
                ("ip", ip.to_string()),
                ("port", port.to_string()),
                ("runid", id),
                ("flags", if alive { "sentinel" } else { "s_down,sentinel,disconnected" }.into()),
                ("link-pending-commands", "0".into()),
                ("link-refcount", "1".into()),
                ("last-ping-sent", "0".into()),
                ("last-ok-ping-reply", heard.unwrap_or(0).to_string()),
                ("last-ping-reply", heard.unwrap_or(0).to_string()),
                ("down-after-milliseconds", "30000".into()),
                ("last-hello-message", heard.unwrap_or(0).to_string()),
                ("voted-leader", "?".into()),
                ("voted-leader-epoch", "0".into()),
            ])
        })
        .collect()
}
