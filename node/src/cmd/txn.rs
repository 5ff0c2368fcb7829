//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! MULTI starts queueing (the dispatcher queues every command that is not itself a transaction
//! command). EXEC is flagged to lock every shard, so the queued commands run with no other client
//! in between, exactly as on Redis's single thread. WATCH registers a shared flag on each key;
//! any write, expiry or flush of the key sets it, and EXEC then answers a null array.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Ctx;
use crate::db::{Locked, Str};
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;
use crate::session::{Multi, Watch};

/// MULTI
pub fn multi(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::msg("MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Multi::default());
    ctx.session.info.multi.store(0, Ordering::Relaxed);
    Ok(Reply::Ok)
}

fn end_multi(ctx: &mut Ctx<'_>, l: &mut Locked<'_>) -> Option<Multi> {
    ctx.session.info.multi.store(-1, Ordering::Relaxed);
    let m = ctx.session.multi.take();
    ctx.session.unwatch_all(&ctx.srv.keyspace, Some(l));
    m
}

/// EXEC
pub fn exec(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_none() {
        return Err(CmdError::msg("EXEC without MULTI"));
    }
    let dirty = ctx.session.watch.as_ref().is_some_and(|w| {
        w.flag.load(Ordering::Relaxed)
            || w.keys.iter().any(|(db, key, was_live)| *was_live && l.db(*db, key).0.is_expired(key, ctx.now_ms))
    });
    let Some(m) = end_multi(ctx, l) else { return Err(CmdError::msg("EXEC without MULTI")) };
    if m.aborted {
        return Err(CmdError::ExecAbort);
    }
    if dirty {
        return Ok(Reply::NilArray);
    }
    let mut replies = Vec::with_capacity(m.queue.len());
    for (spec, args) in &m.queue {
        ctx.session.last_cmd = spec;
        replies.push(super::call(ctx, l, spec, args));
    }
    Ok(Reply::Array(replies))
}

/// DISCARD
pub fn discard(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_none() {
        return Err(CmdError::msg("DISCARD without MULTI"));
    }
    end_multi(ctx, l);
    Ok(Reply::Ok)
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::msg("WATCH inside MULTI is not allowed"));
    }
    let w = ctx.session.watch.get_or_insert_with(|| Watch { flag: Arc::default(), keys: Vec::new() });
    let dbi = ctx.session.db;
    for k in &a[1..] {
        if w.keys.iter().any(|(d, key, _)| *d == dbi && key.as_slice() == &k[..]) {
            continue;
        }
        let (db, _) = l.db(dbi, k);
        let live = db.ttl_of(k).is_none_or(|when| when > ctx.now_ms) && db_has(db, k);
        db.watch(k, &w.flag);
        w.keys.push((dbi, Str::new(k), live));
    }
    Ok(Reply::Ok)
}

fn db_has(db: &crate::db::Db, key: &[u8]) -> bool {
    db.keys_contains(key)
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.session.unwatch_all(&ctx.srv.keyspace, Some(l));
    Ok(Reply::Ok)
}
