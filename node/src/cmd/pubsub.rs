//! Pub/sub commands. Subscription replies are push frames in RESP3 and arrays in RESP2.

use bytes::Bytes;

use super::Ctx;
use super::args::is;
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

fn ack(kind: &'static [u8], name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![Reply::bulk_static(kind), name.map_or(Reply::Nil, Reply::Bulk), Reply::Int(count as i64)])
}

fn subscribe_generic(ctx: &mut Ctx<'_>, a: &[Bytes], pattern: bool) -> CmdResult {
    let kind: &'static [u8] = if pattern { b"psubscribe" } else { b"subscribe" };
    let mut out = Vec::with_capacity(a.len() - 1);
    let id = ctx.session.info.id;
    let mailbox = ctx.session.mailbox();
    for name in &a[1..] {
        let set = if pattern { &mut ctx.session.patterns } else { &mut ctx.session.channels };
        if set.insert(name.clone()) {
            ctx.srv.pubsub.subscribe(pattern, name, id, &mailbox);
        }
        out.push(ack(kind, Some(name.clone()), ctx.session.subscriptions()));
    }
    ctx.session.sync_pubsub_info();
    Ok(Reply::Multi(out))
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, a: &[Bytes], pattern: bool) -> Reply {
    let kind: &'static [u8] = if pattern { b"punsubscribe" } else { b"unsubscribe" };
    let id = ctx.session.info.id;
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else if pattern {
        ctx.session.patterns.iter().cloned().collect()
    } else {
        ctx.session.channels.iter().cloned().collect()
    };
    if names.is_empty() {
        return ack(kind, None, ctx.session.subscriptions());
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let set = if pattern { &mut ctx.session.patterns } else { &mut ctx.session.channels };
        if set.remove(&name) {
            ctx.srv.pubsub.unsubscribe(pattern, &name, id);
        }
        out.push(ack(kind, Some(name), ctx.session.subscriptions()));
    }
    ctx.session.sync_pubsub_info();
    Reply::Multi(out)
}

/// Drops every subscription of the session (RESET).
pub fn unsubscribe_all(ctx: &mut Ctx<'_>) {
    let id = ctx.session.info.id;
    for c in ctx.session.channels.drain() {
        ctx.srv.pubsub.unsubscribe(false, &c, id);
    }
    for p in ctx.session.patterns.drain() {
        ctx.srv.pubsub.unsubscribe(true, &p, id);
    }
    ctx.session.sync_pubsub_info();
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    subscribe_generic(ctx, a, false)
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    subscribe_generic(ctx, a, true)
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    Ok(unsubscribe_generic(ctx, a, false))
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    Ok(unsubscribe_generic(ctx, a, true))
}

/// PUBLISH channel message
pub fn publish(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let n = ctx.srv.pubsub.publish(&a[1], &a[2]);
    ctx.srv.stats.pubsub_messages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Reply::Int(n))
}

/// PUBSUB CHANNELS [pattern]
pub fn pubsub_channels(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::WrongArity("pubsub|channels".into()));
    }
    let chans = ctx.srv.pubsub.channels(a.get(2).map(|p| &p[..]));
    Ok(Reply::Array(chans.into_iter().map(Reply::Bulk).collect()))
}

/// PUBSUB NUMSUB [channel ...]
pub fn pubsub_numsub(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    // Redis 7.0 answers a flat array in RESP3 too, not a map.
    let flat =
        a[2..].iter().flat_map(|c| [Reply::Bulk(c.clone()), Reply::Int(ctx.srv.pubsub.numsub(c) as i64)]).collect();
    Ok(Reply::Array(flat))
}

/// PUBSUB NUMPAT
pub fn pubsub_numpat(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.pubsub.numpat() as i64))
}

/// PUBSUB HELP
pub fn pubsub_help(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(super::server::help_lines(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
        ],
    ))
}

/// True if `a` names a command allowed in RESP2 subscribed mode (used by tests).
pub fn allowed_when_subscribed(name: &[u8]) -> bool {
    ["subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ping", "quit", "reset"].iter().any(|w| is(name, w))
}
