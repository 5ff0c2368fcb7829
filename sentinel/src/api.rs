//! The client-facing API: RESP on the sentinel port, answering as Redis Sentinel does.
//!
//! Connection handling lives in [`serve`]; the answers are computed by [`answer`] inside the
//! core task (it owns the monitors), so a reply always reflects one consistent state. Events are
//! delivered to SUBSCRIBE/PSUBSCRIBE clients from the core's broadcast feed.
//!
//! Implemented so far: PING, ROLE, INFO (sentinel section), CLIENT SETNAME/SETINFO, HELLO 2/3,
//! QUIT, SUBSCRIBE/PSUBSCRIBE, and SENTINEL GET-MASTER-ADDR-BY-NAME / GET-PRIMARY-ADDR-BY-NAME,
//! MASTERS / PRIMARIES, MASTER / PRIMARY, REPLICAS / SLAVES, SENTINELS, MYID, FAILOVER,
//! CKQUORUM. After `HELLO 3` replies are RESP3 (maps, push messages); otherwise RESP2 shapes.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigil_proto::{Frame, Limits, RequestParser};

use crate::core::monitor::{Monitor, split};
use crate::daemon::{ApiRequest, Core, Msg, Published};

fn bulk(s: impl AsRef<[u8]>) -> Frame {
    Frame::bulk(s)
}

fn err(s: &str) -> Frame {
    Frame::error(s)
}

/// A field/value map, every value a bulk string (as Redis Sentinel replies); RESP2
/// connections get it as a flat array (see [`for_protocol`]).
fn fields(pairs: Vec<(&str, String)>) -> Frame {
    Frame::Map(pairs.into_iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
}

/// Adapts shapes to the connection's protocol: for RESP2 maps become flat arrays and push
/// frames arrays; for RESP3 a null array is the RESP3 null.
pub fn for_protocol(frame: Frame, resp: u8) -> Frame {
    if resp >= 3 {
        return if frame == Frame::NullArray { Frame::Null } else { frame };
    }
    match frame {
        Frame::Map(pairs) => {
            Frame::Array(pairs.into_iter().flat_map(|(k, v)| [for_protocol(k, resp), for_protocol(v, resp)]).collect())
        }
        Frame::Array(items) => Frame::Array(items.into_iter().map(|f| for_protocol(f, resp)).collect()),
        Frame::Set(items) | Frame::Push(items) => {
            Frame::Array(items.into_iter().map(|f| for_protocol(f, resp)).collect())
        }
        Frame::Null => Frame::NullBulk,
        other => other,
    }
}

fn master_fields(m: &Monitor, now: u64) -> Frame {
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
    pairs.push(("last-ping-sent", "0".into()));
    pairs.push(("last-ok-ping-reply", since_reply.to_string()));
    pairs.push(("last-ping-reply", since_reply.to_string()));
    if let Some(d) = st.as_ref().and_then(|s| s.sdown_ms) {
        pairs.push(("s-down-time", d.to_string()));
    }
    pairs.extend([
        ("down-after-milliseconds", m.params.down_after_ms.to_string()),
        ("info-refresh", st.as_ref().and_then(|s| s.info_age_ms).unwrap_or(0).to_string()),
        ("role-reported", "master".into()),
        ("role-reported-time", "0".into()),
        ("config-epoch", m.config_epoch.to_string()),
        ("num-slaves", m.replicas().len().to_string()),
        ("num-other-sentinels", "0".into()),
        ("quorum", m.params.quorum.to_string()),
        ("failover-timeout", m.params.failover_timeout_ms.to_string()),
        ("parallel-syncs", m.params.parallel_syncs.to_string()),
    ]);
    fields(pairs)
}

fn replica_fields(m: &Monitor, addr: &str, now: u64) -> Option<Frame> {
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
        ("last-ping-sent", "0".into()),
        ("last-ok-ping-reply", st.since_reply_ms.to_string()),
        ("last-ping-reply", st.since_reply_ms.to_string()),
    ];
    if let Some(d) = st.sdown_ms {
        pairs.push(("s-down-time", d.to_string()));
    }
    pairs.extend([
        ("down-after-milliseconds", m.params.down_after_ms.to_string()),
        ("info-refresh", st.info_age_ms.unwrap_or(0).to_string()),
        ("role-reported", if st.info.role == crate::info::Role::Master { "master" } else { "slave" }.into()),
        ("role-reported-time", "0".into()),
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

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Answers a request that needs the monitors (runs inside the core task).
pub fn answer(core: &mut Core, args: &[Bytes]) -> Frame {
    let now = core.now();
    let cmd = lower(&args[0]);
    match cmd.as_str() {
        "role" => Frame::Array(vec![bulk("sentinel"), Frame::Array(core.monitors.keys().map(bulk).collect())]),
        "info" => {
            let mut s = String::from("# Sentinel\r\n");
            s.push_str(&format!(
                "sentinel_masters:{}\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n",
                core.monitors.len()
            ));
            s.push_str("sentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n");
            for (i, m) in core.monitors.values().enumerate() {
                let status = if m.is_odown() {
                    "odown"
                } else if m.is_sdown(&m.master) {
                    "sdown"
                } else {
                    "ok"
                };
                s.push_str(&format!(
                    "master{i}:name={},status={status},address={},slaves={},sentinels=1\r\n",
                    m.name,
                    m.current_addr(),
                    m.replicas().len()
                ));
            }
            Frame::Bulk(Bytes::from(s))
        }
        "sentinel" => sentinel(core, args, now),
        _ => err("ERR unknown command"),
    }
}

fn sentinel(core: &mut Core, args: &[Bytes], now: u64) -> Frame {
    let Some(sub) = args.get(1).map(|s| lower(s)) else {
        return err("ERR wrong number of arguments for 'sentinel' command");
    };
    let name = args.get(2).map(|n| String::from_utf8_lossy(n).into_owned());
    let arity_err = || err(&format!("ERR wrong number of arguments for 'sentinel|{sub}' command"));
    let no_such = || err("ERR No such master with that name");
    match sub.as_str() {
        "myid" => bulk(&core.myid),
        "masters" | "primaries" => Frame::Array(core.monitors.values().map(|m| master_fields(m, now)).collect()),
        "master" | "primary" => match name.as_deref().map(|n| core.monitors.get(n)) {
            None => arity_err(),
            Some(None) => no_such(),
            Some(Some(m)) => master_fields(m, now),
        },
        "replicas" | "slaves" => match name.as_deref().map(|n| core.monitors.get(n)) {
            None => arity_err(),
            Some(None) => no_such(),
            Some(Some(m)) => Frame::Array(m.replicas().iter().filter_map(|r| replica_fields(m, r, now)).collect()),
        },
        "sentinels" => match name.as_deref().map(|n| core.monitors.contains_key(n)) {
            None => arity_err(),
            Some(false) => no_such(),
            Some(true) => Frame::Array(vec![]),
        },
        "get-master-addr-by-name" | "get-primary-addr-by-name" => match name.as_deref() {
            None => arity_err(),
            Some(n) => match core.monitors.get(n) {
                None => Frame::NullArray,
                Some(m) => {
                    let (ip, port) = split(m.current_addr());
                    Frame::Array(vec![bulk(ip), bulk(port)])
                }
            },
        },
        "ckquorum" => match name.as_deref().map(|n| core.monitors.get(n)) {
            None => arity_err(),
            Some(None) => no_such(),
            Some(Some(m)) if m.params.quorum <= 1 => Frame::Simple(Bytes::from_static(
                b"OK 1 usable Sentinels. Quorum and failover authorization can be reached",
            )),
            Some(Some(_)) => err(
                "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master",
            ),
        },
        "failover" => {
            let Some(n) = name else { return arity_err() };
            let Some(m) = core.monitors.get_mut(&n) else { return no_such() };
            if m.failover_in_progress() {
                return err("INPROG Failover already in progress");
            }
            let mut out = Vec::new();
            m.manual_failover(now, &mut out);
            let aborted = out
                .iter()
                .any(|a| matches!(a, crate::core::monitor::Action::Publish("-failover-abort-no-good-slave", _)));
            core.run_actions(&n, out);
            if aborted { err("NOGOODSLAVE No suitable replica to promote") } else { Frame::simple("OK") }
        }
        _ => err(&format!("ERR unknown subcommand '{sub}'. Try SENTINEL HELP.")),
    }
}

/// Serves one API connection.
pub async fn serve(
    mut stream: TcpStream,
    core: mpsc::Sender<Msg>,
    events: broadcast::Sender<Published>,
    shutdown: CancellationToken,
) {
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::new();
    let mut parser = RequestParser::new();
    let mut args = Vec::new();
    let mut feed: Option<broadcast::Receiver<Published>> = None;
    let mut channels: Vec<(String, bool)> = Vec::new(); // (name or pattern, is pattern)
    let mut resp = 2u8;
    loop {
        loop {
            match parser.parse(&mut rbuf, Limits::default(), &mut args) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let _ = stream.write_all(format!("-ERR {e}\r\n").as_bytes()).await;
                    return;
                }
            }
            let cmd = lower(&args[0]);
            let reply = match cmd.as_str() {
                "ping" => Frame::simple("PONG"),
                "quit" => {
                    let _ = stream.write_all(b"+OK\r\n").await;
                    return;
                }
                "client" | "auth" => Frame::simple("OK"),
                "hello" => {
                    match args.get(1).map(|v| lower(v)) {
                        None => {}
                        Some(v) if v == "2" || v == "3" => resp = if v == "3" { 3 } else { 2 },
                        Some(_) => {
                            err("NOPROTO unsupported protocol version").encode(&mut out);
                            continue;
                        }
                    }
                    Frame::Map(vec![
                        (bulk("server"), bulk("redis")),
                        (bulk("version"), bulk("7.0.15")),
                        (bulk("proto"), Frame::Integer(resp as i64)),
                        (bulk("id"), Frame::Integer(0)),
                        (bulk("mode"), bulk("sentinel")),
                        (bulk("role"), bulk("master")),
                        (bulk("modules"), Frame::Array(vec![])),
                    ])
                }
                "subscribe" | "psubscribe" => {
                    let pattern = cmd == "psubscribe";
                    let rx = feed.get_or_insert_with(|| events.subscribe());
                    let _ = rx;
                    let mut acks = Vec::new();
                    for ch in &args[1..] {
                        let ch = String::from_utf8_lossy(ch).into_owned();
                        channels.push((ch.clone(), pattern));
                        acks.push(Frame::Push(vec![bulk(&cmd), bulk(ch), Frame::Integer(channels.len() as i64)]));
                    }
                    for a in acks {
                        for_protocol(a, resp).encode(&mut out);
                    }
                    continue;
                }
                _ => {
                    let (tx, rx) = oneshot::channel();
                    if core.send(Msg::Api(ApiRequest { args: args.clone(), reply: tx })).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(f) => f,
                        Err(_) => return,
                    }
                }
            };
            for_protocol(reply, resp).encode(&mut out);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            Some(ev) = recv(&mut feed) => {
                let (event, payload) = ev;
                for (ch, pattern) in &channels {
                    let hit = if *pattern { glob(ch, &event) } else { *ch == event };
                    if hit {
                        let msg = if *pattern {
                            Frame::Push(vec![bulk("pmessage"), bulk(ch), bulk(&event), bulk(&payload)])
                        } else {
                            Frame::Push(vec![bulk("message"), bulk(&event), bulk(&payload)])
                        };
                        for_protocol(msg, resp).encode(&mut out);
                    }
                }
            }
        }
    }
}

async fn recv(feed: &mut Option<broadcast::Receiver<Published>>) -> Option<Published> {
    match feed {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(ev) => return Some(ev),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        None => std::future::pending().await,
    }
}

/// `*` and `?` globbing, enough for event patterns such as `*` or `+*`.
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}
