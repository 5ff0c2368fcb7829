//! Server commands: INFO, TIME, ROLE, LASTSAVE, DEBUG, SHUTDOWN.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Ctx;
use super::args::{self, is};
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

/// The reply of a `<CMD> HELP` subcommand: a header line and the help lines, as status strings.
pub fn help_lines(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::StatusOwned(format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))];
    out.extend(lines.iter().map(|l| Reply::StatusOwned((*l).to_string())));
    out.push(Reply::Status("HELP"));
    out.push(Reply::Status("    Print this help."));
    Reply::Array(out)
}

/// INFO [section ...]
pub fn info(ctx: &mut Ctx<'_>, l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let sections: Vec<String> = a[1..].iter().map(|s| args::text(s).to_ascii_lowercase()).collect();
    Ok(Reply::Verbatim(crate::info::render(ctx.srv, l, &sections)))
}

/// TIME
pub fn time(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(Reply::Array(vec![Reply::text(now.as_secs().to_string()), Reply::text(now.subsec_micros().to_string())]))
}

/// LASTSAVE
pub fn lastsave(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.lastsave.load(Ordering::Relaxed)))
}

/// DEBUG SLEEP seconds | DEBUG HELP
///
/// `DEBUG SLEEP` freezes the whole server, as on Redis (tests use it to simulate a hung node):
/// every connection waits before running or answering anything until the time has passed.
pub fn debug(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if is(&a[1], "SLEEP") && a.len() == 3 {
        let secs = args::float(&a[2])?;
        let until = ctx.now_ms + (secs.max(0.0) * 1000.0) as i64;
        ctx.srv.frozen_until.fetch_max(until, Ordering::AcqRel);
        return Ok(Reply::Ok);
    }
    if is(&a[1], "HELP") {
        return Ok(help_lines("DEBUG", &["SLEEP <seconds>", "    Stop the server for <seconds>. Decimals allowed."]));
    }
    Err(CmdError::Err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        args::text(&a[1])
    )))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
pub fn shutdown(ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let mut abort = false;
    for o in &a[1..] {
        if is(o, "ABORT") {
            abort = true;
        } else if !(is(o, "NOSAVE") || is(o, "SAVE") || is(o, "NOW") || is(o, "FORCE")) {
            return Err(CmdError::Syntax);
        }
    }
    if abort {
        return Err(CmdError::msg("No shutdown in progress."));
    }
    tracing::warn!("user requested shutdown (client id {})", ctx.session.info.id);
    ctx.srv.shutdown.cancel();
    ctx.session.close = true;
    Ok(Reply::None)
}
