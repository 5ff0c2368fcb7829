//! CLIENT subcommands.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use super::connection::valid_name;
use crate::clients::{ClientInfo, ClientKind};
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

fn describe(c: &ClientInfo) -> String {
    c.describe(super::spec_name(c.last_cmd.load(Ordering::Relaxed)))
}

/// CLIENT ID
pub fn id(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.session.info.id as i64))
}

/// CLIENT SETNAME name
pub fn setname(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if !valid_name(&a[2]) {
        return Err(CmdError::msg("Client names cannot contain spaces, newlines or special characters."));
    }
    ctx.session.info.names.lock().name = args::text(&a[2]);
    Ok(Reply::Ok)
}

/// CLIENT GETNAME
pub fn getname(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    let name = ctx.session.info.names.lock().name.clone();
    Ok(if name.is_empty() { Reply::Nil } else { Reply::text(name) })
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value
pub fn setinfo(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let which = if is(&a[2], "LIB-NAME") {
        "lib-name"
    } else if is(&a[2], "LIB-VER") {
        "lib-ver"
    } else {
        return Err(CmdError::Err(format!("Unrecognized option '{}'", args::text(&a[2]))));
    };
    if !valid_name(&a[3]) {
        return Err(CmdError::Err(format!("{which} cannot contain spaces, newlines or special characters.")));
    }
    let mut names = ctx.session.info.names.lock();
    if which == "lib-name" {
        names.lib_name = args::text(&a[3]);
    } else {
        names.lib_ver = args::text(&a[3]);
    }
    Ok(Reply::Ok)
}

/// CLIENT INFO
pub fn info(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.session.info.last_cmd.store(super::spec_id(ctx.session.last_cmd), Ordering::Relaxed);
    Ok(Reply::Verbatim(format!("{}\n", describe(&ctx.session.info))))
}

fn parse_kind(b: &[u8]) -> CmdResult<ClientKind> {
    if is(b, "normal") {
        Ok(ClientKind::Normal)
    } else if is(b, "pubsub") {
        Ok(ClientKind::PubSub)
    } else if is(b, "replica") || is(b, "slave") {
        Ok(ClientKind::Replica)
    } else if is(b, "master") {
        Ok(ClientKind::Master)
    } else {
        Err(CmdError::Err(format!("Unknown client type '{}'", args::text(b))))
    }
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
pub fn list(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut kind = None;
    let mut ids: Option<Vec<u64>> = None;
    if a.len() > 2 {
        if is(&a[2], "TYPE") && a.len() == 4 {
            kind = Some(parse_kind(&a[3])?);
        } else if is(&a[2], "ID") && a.len() >= 4 {
            let mut v = Vec::new();
            for x in &a[3..] {
                let n = args::int(x).ok().filter(|n| *n > 0).ok_or_else(|| CmdError::msg("Invalid client ID"))?;
                v.push(n as u64);
            }
            ids = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    ctx.session.info.last_cmd.store(super::spec_id(ctx.session.last_cmd), Ordering::Relaxed);
    let mut out = String::new();
    for c in ctx.srv.clients.snapshot() {
        if kind.is_some_and(|k| c.kind() != k) || ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
            continue;
        }
        out.push_str(&describe(&c));
        out.push('\n');
    }
    Ok(Reply::Verbatim(out))
}

/// CLIENT KILL addr:port | CLIENT KILL <filter> <value> ...
pub fn kill(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len() == 3 {
        let addr = args::text(&a[2]);
        let target = ctx.srv.clients.snapshot().into_iter().find(|c| c.addr.to_string() == addr);
        return match target {
            Some(c) => {
                kill_client(ctx, &c);
                Ok(Reply::Ok)
            }
            None => Err(CmdError::msg("No such client")),
        };
    }
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let (mut id, mut addr, mut laddr, mut kind, mut skipme) = (None, None, None, None, true);
    for pair in a[2..].chunks(2) {
        let (k, v) = (&pair[0], &pair[1]);
        if is(k, "ID") {
            id = Some(
                args::int(v)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| CmdError::msg("client-id should be greater than 0"))? as u64,
            );
        } else if is(k, "ADDR") {
            addr = Some(args::text(v));
        } else if is(k, "LADDR") {
            laddr = Some(args::text(v));
        } else if is(k, "TYPE") {
            kind = Some(parse_kind(v)?);
        } else if is(k, "USER") {
            if &v[..] != b"default" {
                return Err(CmdError::Err(format!("No such user '{}'", args::text(v))));
            }
        } else if is(k, "SKIPME") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let me = ctx.session.info.id;
    let mut n = 0;
    for c in ctx.srv.clients.snapshot() {
        let matches = id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|x| c.addr.to_string() == *x)
            && laddr.as_ref().is_none_or(|x| c.laddr.to_string() == *x)
            && kind.is_none_or(|k| c.kind() == k)
            && !(skipme && c.id == me);
        if matches {
            kill_client(ctx, &c);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

fn kill_client(ctx: &mut Ctx<'_>, c: &ClientInfo) {
    if c.id == ctx.session.info.id {
        ctx.session.close = true;
    } else {
        c.kill.cancel();
    }
}

/// CLIENT NO-EVICT on|off (accepted; there is no eviction yet)
pub fn no_evict(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if is(&a[2], "on") || is(&a[2], "off") { Ok(Reply::Ok) } else { Err(CmdError::Syntax) }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn pause(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let ms = args::int(&a[2]).map_err(|_| CmdError::msg("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::msg("timeout is negative"));
    }
    let all = match a.get(3) {
        None => true,
        Some(m) if is(m, "ALL") => true,
        Some(m) if is(m, "WRITE") => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    if a.len() > 4 {
        return Err(CmdError::Syntax);
    }
    ctx.srv.pause_clients(ctx.now_ms.saturating_add(ms), all);
    tracing::info!(id = ctx.session.info.id, ms, all, "clients paused");
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE
pub fn unpause(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.srv.unpause_clients();
    Ok(Reply::Ok)
}

/// CLIENT HELP
pub fn help(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(super::server::help_lines(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE (NORMAL|MASTER|REPLICA|PUBSUB), USER, SKIPME.",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> ...]",
            "    Return information about client connections.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
        ],
    ))
}
