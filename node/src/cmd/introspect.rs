//! COMMAND: what the server can do, in the shapes redis-cli and client libraries read.

use bytes::Bytes;

use super::args::{self, is};
use super::{Ctx, Spec, TABLE, flags};
use crate::db::Locked;
use crate::error::{CmdError, CmdResult};
use crate::reply::Reply;

fn acl_categories(s: &Spec) -> Vec<Reply> {
    let mut v = Vec::new();
    if s.has(flags::WRITE) {
        v.push("@write");
    }
    if s.has(flags::READONLY) {
        v.push("@read");
    }
    v.push(match s.group {
        "string" => "@string",
        "generic" => "@keyspace",
        "pubsub" => "@pubsub",
        "transactions" => "@transaction",
        "connection" => "@connection",
        _ => "@admin",
    });
    v.push(if s.has(flags::FAST) { "@fast" } else { "@slow" });
    if s.has(flags::ADMIN) {
        v.push("@dangerous");
    }
    v.into_iter().map(Reply::Status).collect()
}

/// One COMMAND INFO entry (10 fields, as Redis 7).
fn entry(s: &'static Spec) -> Reply {
    let flag_names = flags::NAMES.iter().filter(|(bit, _)| s.has(*bit)).map(|(_, n)| Reply::Status(n)).collect();
    Reply::Array(vec![
        Reply::bulk(s.name.as_bytes()),
        Reply::Int(s.arity as i64),
        Reply::Set(flag_names),
        Reply::Int(s.first_key as i64),
        Reply::Int(s.last_key as i64),
        Reply::Int(s.step as i64),
        Reply::Set(acl_categories(s)),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(s.subs.iter().map(entry).collect()),
    ])
}

fn docs(s: &'static Spec) -> Reply {
    let mut m = vec![
        (Reply::bulk_static(b"summary"), Reply::bulk(s.summary.as_bytes())),
        (Reply::bulk_static(b"since"), Reply::bulk(s.since.as_bytes())),
        (Reply::bulk_static(b"group"), Reply::bulk(s.group.as_bytes())),
    ];
    if let Some(args) = super::syntax::arguments(s.name) {
        m.push((Reply::bulk_static(b"arguments"), args));
    }
    if !s.subs.is_empty() {
        let subs = s.subs.iter().map(|x| (Reply::bulk(x.name.as_bytes()), docs(x))).collect();
        m.push((Reply::bulk_static(b"subcommands"), Reply::Map(subs)));
    }
    Reply::Map(m)
}

/// COMMAND (every command's info)
pub fn command(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Array(TABLE.iter().map(entry).collect()))
}

/// COMMAND COUNT
pub fn count(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(TABLE.len() as i64))
}

/// COMMAND INFO [command ...]
pub fn info(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    if a.len() == 2 {
        return Ok(Reply::Array(TABLE.iter().map(entry).collect()));
    }
    Ok(Reply::Array(a[2..].iter().map(|n| super::find(n).map_or(Reply::NilArray, entry)).collect()))
}

/// COMMAND DOCS [command ...]
pub fn docs_cmd(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let pick: Vec<&'static Spec> =
        if a.len() == 2 { TABLE.iter().collect() } else { a[2..].iter().filter_map(|n| super::find(n)).collect() };
    Ok(Reply::Map(pick.into_iter().map(|s| (Reply::bulk(s.name.as_bytes()), docs(s))).collect()))
}

/// COMMAND LIST [FILTERBY MODULE name|ACLCAT cat|PATTERN pattern]
pub fn list(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let pattern = match a.len() {
        2 => None,
        5 if is(&a[2], "FILTERBY") && is(&a[3], "PATTERN") => Some(a[4].clone()),
        5 if is(&a[2], "FILTERBY") && (is(&a[3], "MODULE") || is(&a[3], "ACLCAT")) => {
            return Ok(Reply::Array(vec![]));
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok(Reply::Array(
        TABLE
            .iter()
            .filter(|s| pattern.as_ref().is_none_or(|p| crate::db::glob::matches(p, s.name.as_bytes(), true)))
            .map(|s| Reply::bulk(s.name.as_bytes()))
            .collect(),
    ))
}

/// COMMAND GETKEYS command [arg ...]
pub fn getkeys(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, a: &[Bytes]) -> CmdResult {
    let call = &a[2..];
    let spec = super::lookup(call).map_err(|_| CmdError::msg("Invalid command specified"))?;
    if spec.first_key == 0 {
        return Err(CmdError::msg("The command has no key arguments"));
    }
    Ok(Reply::Array(spec.keys(call).map(args::bulk).collect()))
}

/// COMMAND HELP
pub fn help(_ctx: &mut Ctx<'_>, _l: &mut Locked<'_>, _a: &[Bytes]) -> CmdResult {
    Ok(super::server::help_lines(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
        ],
    ))
}
