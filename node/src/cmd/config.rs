//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Ctx;
use super::args;
use crate::config::{Config, ConfigError};
use crate::db::{Locked, glob};
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

/// CONFIG GET parameter [parameter ...]
pub fn get(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let cfg = ctx.srv.config.read();
    let mut pairs = Vec::new();
    for name in Config::names() {
        if a[2..].iter().any(|p| glob::matches(p, name.as_bytes(), true)) {
            let v = cfg.get(name).unwrap_or_default();
            pairs.push((Reply::bulk(name.as_bytes()), Reply::text(v)));
        }
    }
    Ok(Reply::Map(pairs))
}

/// CONFIG SET parameter value [parameter value ...] — all or nothing.
pub fn set(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let mut cfg = ctx.srv.config.write();
    let mut next = cfg.clone();
    for pair in a[2..].chunks(2) {
        let (k, v) = (args::text(&pair[0]), args::text(&pair[1]));
        next.set(&k, &v, true).map_err(|e| match e {
            ConfigError::UnknownKey(_) => {
                CmdError::Err(format!("Unknown option or number of arguments for CONFIG SET - '{k}'"))
            }
            ConfigError::Immutable(_) => CmdError::Err(format!(
                "CONFIG SET failed (possibly related to argument '{k}') - can't set immutable config"
            )),
            other => CmdError::Err(format!("CONFIG SET failed (possibly related to argument '{k}') - {other}")),
        })?;
    }
    let level_changed = next.loglevel != cfg.loglevel;
    *cfg = next;
    let level = cfg.loglevel.clone();
    drop(cfg);
    if level_changed && let Some(apply) = &ctx.srv.set_loglevel {
        apply(&level);
    }
    ctx.srv.config_changed();
    Ok(Reply::Ok)
}

/// CONFIG RESETSTAT
pub fn resetstat(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    let s = &ctx.srv.stats;
    for c in [&s.connections_received, &s.rejected_connections, &s.error_replies, &s.pubsub_messages] {
        c.store(0, Ordering::Relaxed);
    }
    ctx.srv.clients.reset_traffic();
    for shard in l.all() {
        shard.stats = Default::default();
    }
    Ok(Reply::Ok)
}

/// CONFIG REWRITE
pub fn rewrite(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    ctx.srv.config.read().rewrite().map_err(|e| match e {
        ConfigError::File(m) => CmdError::Err(m),
        other => CmdError::Err(other.to_string()),
    })?;
    tracing::info!("CONFIG REWRITE executed with success");
    Ok(Reply::Ok)
}

/// CONFIG HELP
pub fn help(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(super::server::help_lines(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}
