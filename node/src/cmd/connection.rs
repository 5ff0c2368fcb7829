//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET.

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

/// The Redis version we report, so clients enable the features we implement.
pub const REDIS_VERSION: &str = "7.0.15";

/// PING [message]
pub fn ping(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len() > 2 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    if ctx.session.resp == 2 && ctx.session.subscriptions() > 0 {
        let msg = a.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![Reply::bulk_static(b"pong"), Reply::Bulk(msg)]));
    }
    Ok(match a.get(1) {
        Some(m) => Reply::Bulk(m.clone()),
        None => Reply::Status("PONG"),
    })
}

/// ECHO message
pub fn echo(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    Ok(Reply::Bulk(a[1].clone()))
}

/// Compares without an early exit, so timing does not reveal how much of a password matched.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= (*x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

/// Checks credentials for the default user; the only user until ACLs exist.
fn check_credentials(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult<()> {
    let required = ctx.srv.config.read().requirepass.clone();
    if user != b"default" {
        return Err(CmdError::WrongPass);
    }
    if required.is_empty() || same_secret(pass, required.as_bytes()) { Ok(()) } else { Err(CmdError::WrongPass) }
}

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if a.len() == 2 && ctx.srv.config.read().requirepass.is_empty() {
        return Err(CmdError::msg(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let (user, pass) = if a.len() == 3 { (&a[1][..], &a[2][..]) } else { (&b"default"[..], &a[1][..]) };
    match check_credentials(ctx, user, pass) {
        Ok(()) => {
            ctx.session.authenticated = true;
            Ok(Reply::Ok)
        }
        Err(e) => {
            tracing::info!(id = ctx.session.info.id, "failed AUTH from {}", ctx.session.info.addr);
            Err(e)
        }
    }
}

/// Checks a client or library name: printable ASCII, no spaces.
pub fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut proto = ctx.session.resp;
    let mut auth: Option<(&Bytes, &Bytes)> = None;
    let mut setname: Option<&Bytes> = None;
    if a.len() >= 2 {
        let v = args::int(&a[1]).map_err(|_| CmdError::msg("Protocol version is not an integer or out of range"))?;
        if v != 2 && v != 3 {
            return Err(CmdError::NoProto);
        }
        proto = v as u8;
        let mut i = 2;
        while i < a.len() {
            if is(&a[i], "AUTH") && i + 2 < a.len() {
                auth = Some((&a[i + 1], &a[i + 2]));
                i += 3;
            } else if is(&a[i], "SETNAME") && i + 1 < a.len() {
                setname = Some(&a[i + 1]);
                i += 2;
            } else {
                return Err(CmdError::Err(format!("Syntax error in HELLO option '{}'", args::text(&a[i]))));
            }
        }
    }
    match auth {
        Some((u, p)) => check_credentials(ctx, u, p)?,
        None if !ctx.session.authenticated => {
            return Err(CmdError::Coded(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
            ));
        }
        None => {}
    }
    if let Some(n) = setname
        && !valid_name(n)
    {
        return Err(CmdError::msg("Client names cannot contain spaces, newlines or special characters."));
    }
    if auth.is_some() {
        ctx.session.authenticated = true;
    }
    if let Some(n) = setname {
        ctx.session.info.names.lock().name = args::text(n);
    }
    ctx.session.resp = proto;
    ctx.session.info.resp.store(proto, std::sync::atomic::Ordering::Relaxed);
    Ok(Reply::Map(vec![
        (Reply::bulk_static(b"server"), Reply::bulk_static(b"redis")),
        (Reply::bulk_static(b"version"), Reply::bulk(REDIS_VERSION.as_bytes())),
        (Reply::bulk_static(b"proto"), Reply::Int(proto as i64)),
        (Reply::bulk_static(b"id"), Reply::Int(ctx.session.info.id as i64)),
        (Reply::bulk_static(b"mode"), Reply::bulk_static(b"standalone")),
        (Reply::bulk_static(b"role"), Reply::bulk_static(b"master")),
        (Reply::bulk_static(b"modules"), Reply::Array(vec![])),
    ]))
}

/// SELECT index
pub fn select(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let db = args::db_index(&a[1], ctx.srv.keyspace.databases())?;
    ctx.session.select(db);
    Ok(Reply::Ok)
}

/// QUIT
pub fn quit(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.session.close = true;
    Ok(Reply::Ok)
}

/// RESET: back to a fresh connection's state.
pub fn reset(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.session.multi = None;
    ctx.session.info.multi.store(-1, std::sync::atomic::Ordering::Relaxed);
    ctx.session.unwatch_all(&ctx.srv.keyspace, Some(l));
    super::pubsub::unsubscribe_all(ctx);
    ctx.session.select(0);
    ctx.session.resp = 2;
    ctx.session.info.resp.store(2, std::sync::atomic::Ordering::Relaxed);
    ctx.session.info.names.lock().name.clear();
    ctx.session.authenticated = ctx.srv.config.read().requirepass.is_empty();
    Ok(Reply::Status("RESET"))
}
