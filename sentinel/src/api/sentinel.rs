//! The commands answered inside the core task (they read or change the monitors): `ROLE`,
//! `INFO` and every `SENTINEL` subcommand, with Redis Sentinel's arities, reply shapes and
//! error texts.

use bytes::Bytes;
use vigil_proto::Frame;

use super::fields::{master_fields, replica_fields};
use super::{bulk, err, lower};
use crate::core::monitor::{Action, split};
use crate::daemon::Core;
use crate::group::state::Command;

/// `(subcommand, arity)`; arity counts `SENTINEL` and the subcommand, negative = at least.
const SUBCOMMANDS: &[(&str, i32)] = &[
    ("add-member", 3),
    ("ckquorum", 3),
    ("config", -3),
    ("debug", -2),
    ("failover", 3),
    ("flushconfig", 2),
    ("get-master-addr-by-name", 3),
    ("get-primary-addr-by-name", 3),
    ("help", 2),
    ("info-cache", -3),
    ("is-master-down-by-addr", 6),
    ("is-primary-down-by-addr", 6),
    ("master", 3),
    ("masters", 2),
    ("members", 2),
    ("monitor", 6),
    ("myid", 2),
    ("pending-scripts", 2),
    ("primaries", 2),
    ("primary", 3),
    ("remove", 3),
    ("remove-member", 3),
    ("replicas", 3),
    ("reset", 3),
    ("sentinels", 3),
    ("set", -5),
    ("simulate-failure", -3),
    ("slaves", 3),
];

const HELP: &[&str] = &[
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value>",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param>",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Simulate a Sentinel crash.",
    "HELP",
    "    Prints this help.",
];

/// Vigil's own subcommands (sentinel groups), listed after Redis's in HELP.
const HELP_GROUP: &[&str] = &[
    "MEMBERS",
    "    (Vigil) List the members of this sentinel's group.",
    "ADD-MEMBER <host:port>",
    "    (Vigil) Add the sentinel whose gRPC server is at host:port to the group (on the leader).",
    "REMOVE-MEMBER <host:port>",
    "    (Vigil) Remove a sentinel from the group (on the leader).",
];

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok_or(r: Result<(), String>) -> Frame {
    match r {
        Ok(()) => Frame::simple("OK"),
        Err(e) => err(&e),
    }
}

fn int_arg(b: &Bytes) -> Option<i64> {
    vigil_proto::request::parse_i64(b)
}

/// In a sentinel group, `SENTINEL MONITOR/REMOVE/SET` change the group's replicated state: the
/// arguments are checked here exactly as alone (same errors), and the command to propose is
/// returned. `None`: not such a request (or not in a group), answer it with [`answer`].
pub fn proposal(core: &Core, args: &[Bytes]) -> Option<Result<Command, Frame>> {
    core.group.as_ref()?;
    if lower(&args[0]) != "sentinel" {
        return None;
    }
    let sub = lower(args.get(1)?);
    let (_, arity) = SUBCOMMANDS.iter().find(|(n, _)| *n == sub)?;
    let n = args.len() as i32;
    if (*arity > 0 && n != *arity) || (*arity < 0 && n < -*arity) {
        return None; // the usual arity error
    }
    let name = args.get(2).map(text).unwrap_or_default();
    Some(
        match sub.as_str() {
            "monitor" => {
                let a: Vec<String> = args[2..6].iter().map(text).collect();
                core.check_monitor(&a[0], &a[1], &a[2], &a[3]).map(|cfg| Command::Monitor {
                    name: cfg.name.clone(),
                    addr: cfg.addr.clone(),
                    quorum: cfg.params.quorum as u32,
                    options: cfg.options(),
                })
            }
            "remove" if core.monitors.contains_key(&name) => Ok(Command::Remove { name }),
            "remove" => Err("ERR No such master with that name".into()),
            "set" => {
                let pairs: Vec<(String, Option<String>)> =
                    args[3..].chunks(2).map(|c| (text(&c[0]), c.get(1).map(text))).collect();
                core.check_set(&name, &pairs).map(|_| Command::SetOptions {
                    name,
                    options: pairs
                        .into_iter()
                        .map(|(k, v)| {
                            (k.to_ascii_lowercase().replace("primary-reboot", "master-reboot"), v.unwrap_or_default())
                        })
                        .collect(),
                })
            }
            _ => return None,
        }
        .map_err(|e| err(&e)),
    )
}

/// A group membership change requested (`SENTINEL ADD-MEMBER/REMOVE-MEMBER <host:port>`):
/// `(add, address)`, or the error to answer at once. `None`: not such a request.
pub fn membership_change(core: &Core, args: &[Bytes]) -> Option<Result<(bool, String), Frame>> {
    if lower(&args[0]) != "sentinel" || args.len() != 3 {
        return None;
    }
    let add = match lower(&args[1]).as_str() {
        "add-member" => true,
        "remove-member" => false,
        _ => return None,
    };
    Some(if core.group.is_none() {
        Err(err("ERR this sentinel is not in a group (start it with --grpc-port)"))
    } else if !core.leading {
        Err(err("ERR this sentinel does not lead the sentinel group: send it to the leader"))
    } else {
        crate::config::check_peer(&text(&args[2])).map(|a| (add, a)).map_err(|e| err(&format!("ERR {e}")))
    })
}

fn members(core: &Core) -> Frame {
    let Some(g) = &core.group else { return Frame::Array(vec![]) };
    let voters = g.voters();
    let leader = g.leader();
    Frame::Array(
        g.members()
            .into_iter()
            .map(|(id, addr)| {
                let flag = |b: bool| bulk(if b { "1" } else { "0" });
                Frame::Map(vec![
                    (bulk("id"), bulk(format!("{id:016x}"))),
                    (bulk("grpc-addr"), bulk(addr)),
                    (bulk("voter"), flag(voters.contains(&id))),
                    (bulk("leader"), flag(leader == Some(id))),
                    (bulk("myself"), flag(id == g.id)),
                ])
            })
            .collect(),
    )
}

/// Answers `ROLE`, `INFO` and `SENTINEL` (runs inside the core task).
pub fn answer(core: &mut Core, args: &[Bytes]) -> Frame {
    let now = core.now();
    match lower(&args[0]).as_str() {
        // Arity is checked by the connection (`api::COMMANDS`) before a request gets here.
        "role" => Frame::Array(vec![bulk("sentinel"), Frame::Array(core.monitors.keys().map(bulk).collect())]),
        "info" => Frame::Bulk(Bytes::from(super::info::render(core, &args[1..]))),
        "sentinel" => sentinel(core, args, now),
        other => err(&format!("ERR unknown command '{other}'")),
    }
}

fn sentinel(core: &mut Core, args: &[Bytes], now: u64) -> Frame {
    let Some(sub) = args.get(1).map(|s| lower(s)) else {
        return err("ERR wrong number of arguments for 'sentinel' command");
    };
    let Some(&(_, arity)) = SUBCOMMANDS.iter().find(|(n, _)| *n == sub) else {
        return err(&format!("ERR unknown subcommand '{}'. Try SENTINEL HELP.", text(&args[1])));
    };
    let n = args.len() as i32;
    if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
        return err(&format!("ERR wrong number of arguments for 'sentinel|{sub}' command"));
    }
    let name = args.get(2).map(text).unwrap_or_default();
    let no_such = || err("ERR No such master with that name");
    match sub.as_str() {
        "myid" => bulk(&core.myid),
        // Redis's text exactly; a sentinel in a group also lists Vigil's group commands.
        "help" => Frame::Array(
            HELP.iter().chain(if core.group.is_some() { HELP_GROUP } else { &[] }).map(|l| Frame::simple(l)).collect(),
        ),
        "members" => members(core),
        // A group member that has just started lists no master, and gives no address, until it
        // has caught up with the group: clients ask the next sentinel (see docs/sentinel.md).
        "masters" | "primaries" if !core.synced => Frame::Array(vec![]),
        "masters" | "primaries" => Frame::Array(
            core.monitors.values().map(|m| master_fields(m, core.configs.get(&m.name), core.others(), now)).collect(),
        ),
        "master" | "primary" => match core.monitors.get(&name) {
            None => no_such(),
            Some(m) => master_fields(m, core.configs.get(&name), core.others(), now),
        },
        "replicas" | "slaves" => match core.monitors.get(&name) {
            None => no_such(),
            Some(m) => Frame::Array(m.replicas().iter().filter_map(|r| replica_fields(m, r, now)).collect()),
        },
        // The other members of the group (alone: none).
        "sentinels" => match core.monitors.contains_key(&name) {
            false => no_such(),
            true => Frame::Array(super::fields::sentinel_fields(core, now)),
        },
        "get-master-addr-by-name" | "get-primary-addr-by-name" if !core.synced => Frame::NullArray,
        "get-master-addr-by-name" | "get-primary-addr-by-name" => match core.monitors.get(&name) {
            None => Frame::NullArray,
            Some(m) => {
                let (ip, port) = split(m.current_addr());
                Frame::Array(vec![bulk(ip.trim_start_matches('[').trim_end_matches(']')), bulk(port)])
            }
        },
        "ckquorum" => match core.monitors.get(&name) {
            None => no_such(),
            Some(m) => {
                // Usable: this sentinel and the members heard from recently; the majority is
                // of every member, reachable or not, as Redis counts it.
                let voters = core.group.as_ref().map_or(1, |g| g.members().len().max(1));
                let usable = 1 + core.peers_alive(now);
                if usable < m.params.quorum {
                    err(&format!(
                        "NOQUORUM {usable} usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master"
                    ))
                } else if usable < voters / 2 + 1 {
                    err(&format!(
                        "NOQUORUM {usable} usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover"
                    ))
                } else {
                    Frame::Simple(Bytes::from(format!(
                        "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
                    )))
                }
            }
        },
        "failover" => {
            if core.group.is_some() && !core.leading {
                return err("ERR this sentinel does not lead the sentinel group: send SENTINEL FAILOVER to the leader");
            }
            let Some(m) = core.monitors.get_mut(&name) else { return no_such() };
            if m.failover_in_progress() {
                return err("INPROG Failover already in progress");
            }
            let mut out = Vec::new();
            m.manual_failover(now, &mut out);
            let aborted = out.iter().any(|a| matches!(a, Action::Publish("-failover-abort-no-good-slave", _)));
            core.run_actions(&name, out);
            if aborted { err("NOGOODSLAVE No suitable replica to promote") } else { Frame::simple("OK") }
        }
        "monitor" => {
            let a: Vec<String> = args[2..6].iter().map(text).collect();
            ok_or(core.monitor_master(&a[0], &a[1], &a[2], &a[3]))
        }
        "remove" => ok_or(core.remove_master(&name)),
        "set" => {
            let pairs: Vec<(String, Option<String>)> =
                args[3..].chunks(2).map(|c| (text(&c[0]), c.get(1).map(text))).collect();
            ok_or(core.set_options(&name, &pairs))
        }
        "reset" => Frame::Integer(core.reset_masters(&name) as i64),
        "flushconfig" => ok_or(core.flush_config()),
        "config" => config(core, args),
        "debug" => {
            if args.len() == 2 {
                let pairs = core.timers.values.iter().map(|(k, v)| (k.to_ascii_uppercase(), v.to_string()));
                return Frame::Map(pairs.map(|(k, v)| (bulk(k), bulk(v))).collect());
            }
            let pairs: Vec<(String, Option<String>)> =
                args[2..].chunks(2).map(|c| (text(&c[0]), c.get(1).map(text))).collect();
            ok_or(core.debug_set(&pairs))
        }
        "simulate-failure" => {
            let mut sim = crate::daemon::Simulate::default();
            for a in &args[2..] {
                match lower(a).as_str() {
                    "crash-after-election" => sim.crash_after_election = true,
                    "crash-after-promotion" => sim.crash_after_promotion = true,
                    "help" => {
                        return Frame::Array(vec![bulk("crash-after-election"), bulk("crash-after-promotion")]);
                    }
                    _ => return err("ERR Unknown failure simulation specified"),
                }
            }
            core.simulate = sim;
            Frame::simple("OK")
        }
        "info-cache" => info_cache(core, &args[2..], now),
        "pending-scripts" => pending_scripts(core),
        "is-master-down-by-addr" | "is-primary-down-by-addr" => is_down_by_addr(core, args, now),
        _ => err(&format!("ERR unknown subcommand '{}'. Try SENTINEL HELP.", text(&args[1]))),
    }
}

fn config(core: &mut Core, args: &[Bytes]) -> Frame {
    let usage = || err("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.");
    let rest = &args[3..];
    match lower(&args[2]).as_str() {
        "get" if !rest.is_empty() => {
            let mut out: Vec<(Frame, Frame)> = Vec::new();
            for p in crate::config::GLOBAL_PARAMS {
                if rest.iter().any(|pat| super::glob(&lower(pat), p))
                    && let Some(v) = core.global.get(p)
                {
                    out.push((bulk(p), bulk(v)));
                }
            }
            Frame::Map(out)
        }
        "set" if !rest.is_empty() && rest.len().is_multiple_of(2) => {
            let pairs: Vec<(String, String)> = rest.chunks(2).map(|c| (text(&c[0]), text(&c[1]))).collect();
            ok_or(core.config_set(&pairs))
        }
        _ => usage(),
    }
}

fn info_cache(core: &Core, names: &[Bytes], now: u64) -> Frame {
    let mut out = Vec::new();
    for m in core.monitors.values() {
        if !names.iter().any(|n| **n == *m.name.as_bytes()) {
            continue;
        }
        let mut addrs = vec![m.master.clone()];
        addrs.extend(m.replicas());
        let entries = addrs
            .iter()
            .map(|a| match core.info_cache.get(&(m.name.clone(), a.clone())) {
                Some((at, text)) => {
                    Frame::Array(vec![Frame::Integer(now.saturating_sub(*at) as i64), bulk(text.as_bytes())])
                }
                None => Frame::Array(vec![Frame::Integer(0), Frame::NullBulk]),
            })
            .collect();
        out.push(bulk(&m.name));
        out.push(Frame::Array(entries));
    }
    Frame::Array(out)
}

fn pending_scripts(core: &Core) -> Frame {
    let jobs = core.scripts.pending();
    let now = std::time::Instant::now();
    Frame::Array(
        jobs.into_iter()
            .map(|j| {
                let mut pairs = vec![
                    (bulk("argv"), Frame::Array(j.argv.iter().map(bulk).collect())),
                    (bulk("flags"), bulk(if j.pid.is_some() { "running" } else { "scheduled" })),
                    (bulk("pid"), bulk(j.pid.unwrap_or(0).to_string())),
                ];
                match j.started {
                    Some(t) => pairs.push((bulk("run-time"), bulk(now.duration_since(t).as_millis().to_string()))),
                    None => pairs.push((
                        bulk("run-delay"),
                        bulk(j.start_at.saturating_duration_since(now).as_millis().to_string()),
                    )),
                }
                pairs.push((bulk("retry-num"), bulk(j.retry_num.to_string())));
                Frame::Map(pairs)
            })
            .collect(),
    )
}

/// `IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>`: the master is found by
/// address; down only if SDOWN here and not in TILT; a runid other than `*` asks for a vote.
fn is_down_by_addr(core: &mut Core, args: &[Bytes], now: u64) -> Frame {
    let (Some(port), Some(epoch)) = (int_arg(&args[3]), int_arg(&args[4])) else {
        return err("ERR value is not an integer or out of range");
    };
    let addr = crate::config::join(&text(&args[2]), port.clamp(0, 65535) as u16);
    let runid = text(&args[5]);
    let tilt = core.tilt.active();
    let myid = core.myid.clone();
    let Some(name) = core.monitors.values().find(|m| m.master == addr).map(|m| m.name.clone()) else {
        return Frame::Array(vec![Frame::Integer(0), bulk("*"), Frame::Integer(0)]);
    };
    let mut out = Vec::new();
    let Some(m) = core.monitors.get_mut(&name) else { return err("ERR No such master with that name") };
    let down = !tilt && m.is_sdown(&addr);
    let (leader, leader_epoch) =
        if runid != "*" { m.vote(now, epoch.max(0) as u64, &runid, &myid, &mut out) } else { ("*".into(), 0) };
    core.run_actions(&name, out);
    Frame::Array(vec![Frame::Integer(down as i64), bulk(leader), Frame::Integer(leader_epoch as i64)])
}
