//! String commands: GET, SET and friends, counters, ranges.

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use crate::db::{Db, Locked, ShardStats, Str, Value};
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

/// Reads the string under `key`, counting a hit or miss; WRONGTYPE for other types.
fn read_str<'a>(db: &'a mut Db, key: &[u8], now: i64, st: &mut ShardStats) -> CmdResult<Option<&'a Str>> {
    match db.read(key, now, st) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
    }
}

fn max_len(ctx: &Ctx<'_>) -> usize {
    ctx.srv.config.read().proto_max_bulk_len as usize
}

fn too_big() -> CmdError {
    CmdError::msg("string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// An expiry option: when, in absolute unix ms.
fn expiry_at(unit_ms: bool, absolute: bool, arg: &[u8], now: i64, cmd: &str) -> CmdResult<i64> {
    let n = args::int(arg)?;
    let invalid = || CmdError::Err(format!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = if unit_ms { n } else { n.checked_mul(1000).ok_or_else(invalid)? };
    if absolute { Ok(ms) } else { ms.checked_add(now).ok_or_else(invalid) }
}

/// If `o` is EX, PX, EXAT or PXAT, the absolute expiry its value (the next argument) gives.
/// `None` if `o` is not one of them or has no value.
fn expire_option(o: &[u8], value: Option<&Bytes>, now: i64, cmd: &str) -> Option<CmdResult<i64>> {
    let (unit_ms, absolute) = match () {
        _ if is(o, "EX") => (false, false),
        _ if is(o, "PX") => (true, false),
        _ if is(o, "EXAT") => (false, true),
        _ if is(o, "PXAT") => (true, true),
        _ => return None,
    };
    Some(expiry_at(unit_ms, absolute, value?, now, cmd))
}

/// GET key
pub fn get(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    Ok(read_str(db, &a[1], ctx.now_ms, st)?.map_or(Reply::Nil, |s| Reply::Value(s.clone())))
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts-ms|KEEPTTL]
pub fn set(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expire: Option<i64> = None;
    let mut i = 3;
    while i < a.len() {
        let o = &a[i];
        if is(o, "NX") && !xx {
            nx = true;
        } else if is(o, "XX") && !nx {
            xx = true;
        } else if is(o, "GET") {
            get = true;
        } else if is(o, "KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else if expire.is_none()
            && !keepttl
            && let Some(when) = expire_option(o, a.get(i + 1), ctx.now_ms, "set")
        {
            expire = Some(when?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let old = if get { read_str(db, &a[1], ctx.now_ms, st)?.cloned() } else { None };
    let exists = if get { old.is_some() } else { db.exists(&a[1], ctx.now_ms, st) };
    if (nx && exists) || (xx && !exists) {
        return Ok(if get { old.map_or(Reply::Nil, Reply::Value) } else { Reply::Nil });
    }
    db.set(&a[1], Value::Str(Str::new(&a[2])), keepttl);
    if let Some(when) = expire {
        db.set_expire(&a[1], when);
        ctx.propagate_as(&[&b"SET"[..], &a[1], &a[2], b"PXAT", when.to_string().as_bytes()]);
    }
    Ok(if get { old.map_or(Reply::Nil, Reply::Value) } else { Reply::Ok })
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    if db.exists(&a[1], ctx.now_ms, st) {
        return Ok(Reply::Int(0));
    }
    db.set(&a[1], Value::Str(Str::new(&a[2])), false);
    Ok(Reply::Int(1))
}

fn set_with_ttl(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes], unit_ms: bool, cmd: &str) -> CmdResult {
    let when = expiry_at(unit_ms, false, &a[2], ctx.now_ms, cmd)?;
    let (db, _) = l.db(ctx.session.db, &a[1]);
    db.set(&a[1], Value::Str(Str::new(&a[3])), false);
    db.set_expire(&a[1], when);
    ctx.propagate_as(&[&b"SET"[..], &a[1], &a[3], b"PXAT", when.to_string().as_bytes()]);
    Ok(Reply::Ok)
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, l, a, false, "setex")
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, l, a, true, "psetex")
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut out = Vec::with_capacity(a.len() - 1);
    for k in &a[1..] {
        let (db, st) = l.db(ctx.session.db, k);
        out.push(match db.read(k, ctx.now_ms, st) {
            Some(Value::Str(s)) => Reply::Value(s.clone()),
            None => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("mset".into()));
    }
    for kv in a[1..].chunks(2) {
        l.db(ctx.session.db, &kv[0]).0.set(&kv[0], Value::Str(Str::new(&kv[1])), false);
    }
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("msetnx".into()));
    }
    for kv in a[1..].chunks(2) {
        let (db, st) = l.db(ctx.session.db, &kv[0]);
        if db.exists(&kv[0], ctx.now_ms, st) {
            return Ok(Reply::Int(0));
        }
    }
    mset(ctx, l, a).map(|_| Reply::Int(1))
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let old = read_str(db, &a[1], ctx.now_ms, st)?.cloned();
    db.set(&a[1], Value::Str(Str::new(&a[2])), false);
    Ok(old.map_or(Reply::Nil, Reply::Value))
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let old = read_str(db, &a[1], ctx.now_ms, st)?.cloned();
    if old.is_some() {
        db.delete(&a[1]);
        ctx.propagate_as(&[&b"DEL"[..], &a[1]]);
    }
    Ok(old.map_or(Reply::Nil, Reply::Value))
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ts-ms|PERSIST]
pub fn getex(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut expire = None;
    let mut persist = false;
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if is(o, "PERSIST") && expire.is_none() && !persist {
            persist = true;
        } else if expire.is_none()
            && !persist
            && let Some(when) = expire_option(o, a.get(i + 1), ctx.now_ms, "getex")
        {
            expire = Some(when?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let Some(v) = read_str(db, &a[1], ctx.now_ms, st)?.cloned() else { return Ok(Reply::Nil) };
    if let Some(when) = expire {
        db.set_expire(&a[1], when);
        ctx.propagate_as(&[&b"PEXPIREAT"[..], &a[1], when.to_string().as_bytes()]);
    } else if persist {
        db.persist(&a[1]);
        ctx.propagate_as(&[&b"PERSIST"[..], &a[1]]);
    }
    Ok(Reply::Value(v))
}

/// APPEND key value
pub fn append(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let limit = max_len(ctx);
    let (db, st) = l.db(ctx.session.db, &a[1]);
    match db.get_mut(&a[1], ctx.now_ms, st) {
        None => {
            db.set(&a[1], Value::Str(Str::new(&a[2])), true);
            Ok(Reply::Int(a[2].len() as i64))
        }
        Some(Value::Str(s)) => {
            if s.len() + a[2].len() > limit {
                return Err(too_big());
            }
            let v = s.make_growable();
            v.extend_from_slice(&a[2]);
            Ok(Reply::Int(v.len() as i64))
        }
    }
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    Ok(Reply::Int(read_str(db, &a[1], ctx.now_ms, st)?.map_or(0, |s| s.len() as i64)))
}

/// GETRANGE key start end (also SUBSTR)
pub fn getrange(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (mut start, mut end) = (args::int(&a[2])?, args::int(&a[3])?);
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let Some(s) = read_str(db, &a[1], ctx.now_ms, st)? else { return Ok(Reply::bulk_static(b"")) };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk_static(b""));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk_static(b""));
    }
    Ok(Reply::bulk(&s[start as usize..=end as usize]))
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let offset = args::int(&a[2])?;
    if offset < 0 {
        return Err(CmdError::msg("offset is out of range"));
    }
    let offset = offset as usize;
    let val = &a[3];
    if !val.is_empty() && offset + val.len() > max_len(ctx) {
        return Err(too_big());
    }
    let (db, st) = l.db(ctx.session.db, &a[1]);
    match db.get_mut(&a[1], ctx.now_ms, st) {
        None => {
            if val.is_empty() {
                return Ok(Reply::Int(0));
            }
            let mut v = vec![0u8; offset + val.len()];
            v[offset..].copy_from_slice(val);
            db.set(&a[1], Value::Str(Str::new(&v)), true);
            Ok(Reply::Int(v.len() as i64))
        }
        Some(Value::Str(s)) => {
            if val.is_empty() {
                return Ok(Reply::Int(s.len() as i64));
            }
            let v = s.make_growable();
            if v.len() < offset + val.len() {
                v.resize(offset + val.len(), 0);
            }
            v[offset..offset + val.len()].copy_from_slice(val);
            Ok(Reply::Int(v.len() as i64))
        }
    }
}

fn incr_by(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, key: &[u8], by: i64) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, key);
    let cur = match db.get(key, ctx.now_ms, st) {
        None => 0,
        Some(Value::Str(s)) => args::int(s)?,
    };
    let new = cur.checked_add(by).ok_or(CmdError::Overflow)?;
    db.set(key, Value::Str(Str::from_i64(new)), true);
    Ok(Reply::Int(new))
}

/// INCR key
pub fn incr(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    incr_by(ctx, l, &a[1], 1)
}

/// DECR key
pub fn decr(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    incr_by(ctx, l, &a[1], -1)
}

/// INCRBY key increment
pub fn incrby(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let by = args::int(&a[2])?;
    incr_by(ctx, l, &a[1], by)
}

/// DECRBY key decrement
pub fn decrby(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let by = args::int(&a[2])?;
    if by == i64::MIN {
        return Err(CmdError::msg("decrement would overflow"));
    }
    incr_by(ctx, l, &a[1], -by)
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let by = args::float(&a[2])?;
    let (db, st) = l.db(ctx.session.db, &a[1]);
    let cur = match db.get(&a[1], ctx.now_ms, st) {
        None => 0.0,
        Some(Value::Str(s)) => args::float(s)?,
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(CmdError::msg("increment would produce NaN or Infinity"));
    }
    let text = args::human_float(new);
    db.set(&a[1], Value::Str(Str::new(text.as_bytes())), true);
    ctx.propagate_as(&[&b"SET"[..], &a[1], text.as_bytes(), b"KEEPTTL"]);
    Ok(Reply::text(text))
}
