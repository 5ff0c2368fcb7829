//! Generic key commands: DEL, EXISTS, TYPE, TTLs, KEYS/SCAN, RENAME, COPY, MOVE, flushing.

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use crate::db::{Locked, Value, glob};
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

/// DEL key [key ...] (also UNLINK)
pub fn del(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &a[1..] {
        let (db, st) = l.db(ctx.session.db, k);
        if db.exists(k, ctx.now_ms, st) {
            db.delete(k);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// EXISTS key [key ...] (a key named twice counts twice) — also TOUCH.
pub fn exists(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &a[1..] {
        let (db, st) = l.db(ctx.session.db, k);
        if db.exists(k, ctx.now_ms, st) {
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// TYPE key
pub fn type_(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    Ok(Reply::Status(db.get(&a[1], ctx.now_ms, st).map_or("none", Value::type_name)))
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT]
fn expire_generic(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes], unit_ms: bool, absolute: bool) -> CmdResult {
    let name = super::find(&a[0]).map_or("expire", |s| s.name);
    let n = args::int(&a[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        if is(o, "NX") {
            nx = true;
        } else if is(o, "XX") {
            xx = true;
        } else if is(o, "GT") {
            gt = true;
        } else if is(o, "LT") {
            lt = true;
        } else {
            return Err(CmdError::Err(format!("Unsupported option {}", args::text(o))));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::msg("NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CmdError::msg("GT and LT options at the same time are not compatible"));
    }
    let invalid = || CmdError::Err(format!("invalid expire time in '{name}' command"));
    let ms = if unit_ms { n } else { n.checked_mul(1000).ok_or_else(invalid)? };
    let when = if absolute { ms } else { ms.checked_add(ctx.now_ms).ok_or_else(invalid)? };
    let (db, st) = l.db(ctx.session.db, &a[1]);
    if !db.exists(&a[1], ctx.now_ms, st) {
        return Ok(Reply::Int(0));
    }
    let current = db.ttl_of(&a[1]);
    let ok = match current {
        None => !(xx || gt),
        Some(cur) => !nx && (!gt || when > cur) && (!lt || when < cur),
    };
    if !ok {
        return Ok(Reply::Int(0));
    }
    if when <= ctx.now_ms {
        db.delete(&a[1]);
        ctx.propagate_as(&[&b"DEL"[..], &a[1]]);
    } else {
        db.set_expire(&a[1], when);
        ctx.propagate_as(&[&b"PEXPIREAT"[..], &a[1], when.to_string().as_bytes()]);
    }
    Ok(Reply::Int(1))
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    expire_generic(ctx, l, a, false, false)
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    expire_generic(ctx, l, a, true, false)
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    expire_generic(ctx, l, a, false, true)
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT]
pub fn pexpireat(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    expire_generic(ctx, l, a, true, true)
}

/// TTL-style query: -2 missing, -1 no TTL, else remaining (or absolute) time.
fn ttl_generic(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, key: &[u8], unit_ms: bool, absolute: bool) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, key);
    if !db.exists(key, ctx.now_ms, st) {
        return Ok(Reply::Int(-2));
    }
    let Some(when) = db.ttl_of(key) else { return Ok(Reply::Int(-1)) };
    let v = if absolute { when } else { (when - ctx.now_ms).max(0) };
    Ok(Reply::Int(if unit_ms { v } else { (v + 500) / 1000 }))
}

/// TTL key
pub fn ttl(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, l, &a[1], false, false)
}

/// PTTL key
pub fn pttl(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, l, &a[1], true, false)
}

/// EXPIRETIME key
pub fn expiretime(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    if !db.exists(&a[1], ctx.now_ms, st) {
        return Ok(Reply::Int(-2));
    }
    Ok(Reply::Int(db.ttl_of(&a[1]).map_or(-1, |w| w / 1000)))
}

/// PEXPIRETIME key
pub fn pexpiretime(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, l, &a[1], true, true)
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let (db, st) = l.db(ctx.session.db, &a[1]);
    if !db.exists(&a[1], ctx.now_ms, st) {
        return Ok(Reply::Int(0));
    }
    Ok(Reply::Int(db.persist(&a[1]) as i64))
}

/// KEYS pattern
pub fn keys(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let pattern = &a[1];
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    for shard in l.all() {
        let db = &shard.dbs[ctx.session.db];
        for k in db.keys() {
            if (all || glob::matches(pattern, k, false)) && !db.is_expired(k, ctx.now_ms) {
                out.push(Reply::Value(k.clone()));
            }
        }
    }
    Ok(Reply::Array(out))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor packs the shard index in its low 6 bits and that shard's table cursor above them.
pub fn scan(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let cursor: u64 =
        std::str::from_utf8(&a[1]).ok().and_then(|s| s.parse().ok()).ok_or_else(|| CmdError::msg("invalid cursor"))?;
    let (mut pattern, mut count, mut typ) = (None, 10i64, None);
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        if is(&a[i], "MATCH") {
            pattern = Some(a[i + 1].clone());
        } else if is(&a[i], "COUNT") {
            count = args::int(&a[i + 1])?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if is(&a[i], "TYPE") {
            typ = Some(a[i + 1].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let shards = crate::db::SHARDS as u64;
    let bits = shards.trailing_zeros();
    let mut shard = (cursor & (shards - 1)) as usize;
    let mut inner = cursor >> bits;
    let mut found: Vec<crate::db::Str> = Vec::new();
    let now = ctx.now_ms;
    let db_index = ctx.session.db;
    let all = l.all();
    // Visit buckets until COUNT keys were seen or COUNT*10 buckets were visited (COUNT is a hint
    // of work, as in Redis), so a small keyspace comes back in one call with cursor 0.
    let mut budget = count as usize;
    let mut visits = (count as usize).saturating_mul(10);
    let next = loop {
        let db = &all[shard].dbs[db_index];
        let mut seen = 0usize;
        inner = db.scan(inner, |k, v| {
            seen += 1;
            if db.is_expired(k, now) {
                return;
            }
            if let Some(p) = &pattern
                && !glob::matches(p, k, false)
            {
                return;
            }
            if let Some(t) = &typ
                && !v.type_name().as_bytes().eq_ignore_ascii_case(t)
            {
                return;
            }
            found.push(k.clone());
        });
        // An empty database part costs nothing, so a small keyspace is returned in one call.
        if !db.is_empty() {
            budget = budget.saturating_sub(seen);
            visits = visits.saturating_sub(1);
        }
        if inner == 0 {
            shard += 1;
            if shard == all.len() {
                break 0;
            }
        }
        if budget == 0 || visits == 0 {
            break (inner << bits) | shard as u64;
        }
    };
    let keys = found.into_iter().map(Reply::Value).collect();
    Ok(Reply::Array(vec![Reply::text(next.to_string()), Reply::Array(keys)]))
}

/// RANDOMKEY
pub fn randomkey(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    let db_index = ctx.session.db;
    let all = l.all();
    let total: usize = all.iter().map(|s| s.dbs[db_index].len()).sum();
    if total == 0 {
        return Ok(Reply::Nil);
    }
    let mut rng = rand::rng();
    for _ in 0..100 {
        // Pick a shard weighted by its size, then a key in it.
        let mut pick = rand::Rng::random_range(&mut rng, 0..total);
        let shard = all
            .iter()
            .position(|s| {
                let n = s.dbs[db_index].len();
                if pick < n {
                    true
                } else {
                    pick -= n;
                    false
                }
            })
            .unwrap_or(0);
        let db = &all[shard].dbs[db_index];
        if let Some(k) = db.random_key(&mut rng)
            && !db.is_expired(&k, ctx.now_ms)
        {
            return Ok(Reply::Value(k));
        }
    }
    Ok(Reply::Nil)
}

fn rename_generic(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&a[1], &a[2]);
    let now = ctx.now_ms;
    let dbi = ctx.session.db;
    let (db, st) = l.db(dbi, src);
    let Some(value) = db.get(src, now, st).cloned() else { return Err(CmdError::NoSuchKey) };
    let ttl = db.ttl_of(src);
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    let (ddb, dst_st) = l.db(dbi, dst);
    if nx && ddb.exists(dst, now, dst_st) {
        return Ok(Reply::Int(0));
    }
    ddb.set(dst, value, false);
    if let Some(w) = ttl {
        ddb.set_expire(dst, w);
    }
    l.db(dbi, src).0.delete(src);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    rename_generic(ctx, l, a, false)
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    rename_generic(ctx, l, a, true)
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let databases = ctx.srv.keyspace.databases();
    let mut dst_db = ctx.session.db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "REPLACE") {
            replace = true;
        } else if is(&a[i], "DB") && i + 1 < a.len() {
            dst_db = args::db_index(&a[i + 1], databases)?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (src, dst) = (&a[1], &a[2]);
    if src == dst && dst_db == ctx.session.db {
        return Err(CmdError::msg("source and destination objects are the same"));
    }
    let now = ctx.now_ms;
    let (db, st) = l.db(ctx.session.db, src);
    let Some(value) = db.get(src, now, st).cloned() else { return Ok(Reply::Int(0)) };
    let ttl = db.ttl_of(src);
    let (ddb, dst_st) = l.db(dst_db, dst);
    if ddb.exists(dst, now, dst_st) {
        if !replace {
            return Ok(Reply::Int(0));
        }
        ddb.delete(dst);
    }
    ddb.set(dst, value, false);
    if let Some(w) = ttl {
        ddb.set_expire(dst, w);
    }
    Ok(Reply::Int(1))
}

/// MOVE key db
pub fn move_(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let target = args::db_index(&a[2], ctx.srv.keyspace.databases())?;
    if target == ctx.session.db {
        return Err(CmdError::msg("source and destination objects are the same"));
    }
    let now = ctx.now_ms;
    let shard = l.shard(&a[1]);
    let st = &mut shard.stats;
    let Some(value) = shard.dbs[ctx.session.db].get(&a[1], now, st).cloned() else { return Ok(Reply::Int(0)) };
    if shard.dbs[target].exists(&a[1], now, st) {
        return Ok(Reply::Int(0));
    }
    let ttl = shard.dbs[ctx.session.db].ttl_of(&a[1]);
    shard.dbs[ctx.session.db].delete(&a[1]);
    shard.dbs[target].set(&a[1], value, false);
    if let Some(w) = ttl {
        shard.dbs[target].set_expire(&a[1], w);
    }
    Ok(Reply::Int(1))
}

/// DBSIZE
pub fn dbsize(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(l.all().iter().map(|s| s.dbs[ctx.session.db].len() as i64).sum()))
}

fn flush_mode(a: &[Bytes]) -> CmdResult<()> {
    match a.get(1) {
        None => Ok(()),
        Some(m) if a.len() == 2 && (is(m, "SYNC") || is(m, "ASYNC")) => Ok(()),
        Some(_) => Err(CmdError::Syntax),
    }
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    flush_mode(a)?;
    for s in l.all() {
        s.dbs[ctx.session.db].flush();
    }
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC|SYNC]
pub fn flushall(_ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    flush_mode(a)?;
    for s in l.all() {
        for db in s.dbs.iter_mut() {
            db.flush();
        }
    }
    Ok(Reply::Ok)
}

/// SWAPDB index1 index2
pub fn swapdb(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let n = ctx.srv.keyspace.databases();
    let parse = |b: &[u8], which: &str| -> CmdResult<usize> {
        let v = args::int(b).map_err(|_| CmdError::Err(format!("invalid {which} DB index")))?;
        if v < 0 || v as usize >= n {
            return Err(CmdError::DbIndexOutOfRange);
        }
        Ok(v as usize)
    };
    let (x, y) = (parse(&a[1], "first")?, parse(&a[2], "second")?);
    if x == y {
        return Ok(Reply::Ok);
    }
    for s in l.all() {
        s.dbs[x].signal_all_watched();
        s.dbs[y].signal_all_watched();
        let (lo, hi) = (x.min(y), x.max(y));
        let (left, right) = s.dbs.split_at_mut(hi);
        left[lo].swap_data(&mut right[0]);
    }
    Ok(Reply::Ok)
}
