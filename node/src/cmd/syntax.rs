//! Argument syntax of each command, and its translation into COMMAND DOCS `arguments`.
//!
//! redis-cli builds its inline hints (`SET foo ` → `value [NX|XX] [GET] ...`) from the
//! `arguments` that COMMAND DOCS returns. Rather than hand-writing those nested maps, each command
//! has its usage line in Redis's own notation, and [`arguments`] parses it:
//!
//! - `UPPER` is a token; `UPPER word` a token carrying a value; `word` a plain argument;
//! - `[ ... ]` is optional; `a|b` inside brackets is a choice; several words form a block;
//! - `[x ...]` after `x` (or `[k v ...]` after `k v`) marks the argument as repeatable.

use crate::reply::Reply;

/// The usage line of a command (without its name), as in Redis's documentation.
pub fn usage(name: &str) -> &'static str {
    match name {
        "ping" => "[message]",
        "echo" => "message",
        "hello" => "[protover [AUTH username password] [SETNAME clientname]]",
        "auth" => "[username] password",
        "select" => "index",
        "del" | "unlink" | "exists" | "touch" | "mget" | "watch" => "key [key ...]",
        "type" | "ttl" | "pttl" | "persist" | "expiretime" | "pexpiretime" | "get" | "getdel" | "strlen" | "incr"
        | "decr" => "key",
        "expire" => "key seconds [NX|XX|GT|LT]",
        "pexpire" => "key milliseconds [NX|XX|GT|LT]",
        "expireat" => "key unix-time-seconds [NX|XX|GT|LT]",
        "pexpireat" => "key unix-time-milliseconds [NX|XX|GT|LT]",
        "keys" => "pattern",
        "scan" => "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "rename" | "renamenx" => "key newkey",
        "copy" => "source destination [DB destination-db] [REPLACE]",
        "move" => "key db",
        "flushdb" | "flushall" => "[ASYNC|SYNC]",
        "swapdb" => "index1 index2",
        "set" => {
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
        }
        "setnx" | "getset" | "append" => "key value",
        "setex" => "key seconds value",
        "psetex" => "key milliseconds value",
        "mset" | "msetnx" => "key value [key value ...]",
        "getex" => "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "getrange" | "substr" => "key start end",
        "setrange" => "key offset value",
        "incrby" => "key increment",
        "decrby" => "key decrement",
        "incrbyfloat" => "key increment",
        "subscribe" => "channel [channel ...]",
        "psubscribe" => "pattern [pattern ...]",
        "unsubscribe" => "[channel [channel ...]]",
        "punsubscribe" => "[pattern [pattern ...]]",
        "publish" => "channel message",
        "pubsub|channels" => "[pattern]",
        "pubsub|numsub" => "[channel [channel ...]]",
        "info" => "[section [section ...]]",
        "replicaof" | "slaveof" => "host port",
        "psync" => "replicationid offset",
        "debug" => "subcommand [argument [argument ...]]",
        "shutdown" => "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
        "config|get" => "parameter [parameter ...]",
        "config|set" => "parameter value [parameter value ...]",
        "client|setname" => "connection-name",
        "client|setinfo" => "LIB-NAME libname|LIB-VER libver",
        "client|list" => "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
        "client|kill" => {
            "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES|NO]"
        }
        "client|no-evict" => "ON|OFF",
        "client|pause" => "timeout [WRITE|ALL]",
        "client|reply" => "ON|OFF|SKIP",
        "command|info" | "command|docs" => "[command-name [command-name ...]]",
        "command|list" => "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
        "command|getkeys" => "command [arg [arg ...]]",
        _ => "",
    }
}

#[derive(Debug, Clone)]
struct Arg {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Arg>,
}

impl Arg {
    fn to_reply(&self) -> Reply {
        let mut m = vec![
            (Reply::bulk_static(b"name"), Reply::text(self.name.clone())),
            (Reply::bulk_static(b"type"), Reply::bulk(self.kind.as_bytes())),
        ];
        if self.kind != "pure-token" && self.kind != "oneof" && self.kind != "block" {
            m.push((Reply::bulk_static(b"display_text"), Reply::text(self.name.clone())));
        }
        if let Some(t) = &self.token {
            m.push((Reply::bulk_static(b"token"), Reply::text(t.clone())));
        }
        let mut flags = Vec::new();
        if self.optional {
            flags.push(Reply::Status("optional"));
        }
        if self.multiple {
            flags.push(Reply::Status("multiple"));
        }
        if !flags.is_empty() {
            m.push((Reply::bulk_static(b"flags"), Reply::Set(flags)));
        }
        if !self.children.is_empty() {
            m.push((Reply::bulk_static(b"arguments"), Reply::Array(self.children.iter().map(Arg::to_reply).collect())));
        }
        Reply::Map(m)
    }
}

fn kind_of(word: &str) -> &'static str {
    match word {
        "key" | "newkey" | "source" | "destination" => "key",
        "pattern" => "pattern",
        w if w.starts_with("unix-time") => "unix-time",
        "seconds" | "milliseconds" | "count" | "offset" | "start" | "end" | "increment" | "decrement" | "index"
        | "index1" | "index2" | "db" | "destination-db" | "cursor" | "protover" | "client-id" => "integer",
        _ => "string",
    }
}

fn is_token(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

/// Splits `s` at top-level occurrences of `sep` (outside brackets).
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Parses a sequence of items (no top-level `|`).
fn parse_seq(s: &str) -> Vec<Arg> {
    let mut out: Vec<Arg> = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(inner_start) = rest.strip_prefix('[') {
            let mut depth = 1;
            let end = inner_start
                .char_indices()
                .find(|&(_, c)| {
                    if c == '[' {
                        depth += 1;
                    } else if c == ']' {
                        depth -= 1;
                    }
                    depth == 0
                })
                .map_or(inner_start.len(), |(i, _)| i);
            let inner = inner_start[..end].trim();
            rest = inner_start.get(end + 1..).unwrap_or("").trim_start();
            if let Some(repeated) = inner.strip_suffix("...") {
                // `[x ...]` repeats the last n items, n being the words in `repeated`.
                let n = repeated.split_whitespace().count().max(1).min(out.len());
                let tail: Vec<Arg> = out.split_off(out.len() - n);
                let mut item = if tail.len() == 1 { tail[0].clone() } else { block(tail) };
                item.multiple = true;
                out.push(item);
                continue;
            }
            let mut item = parse_alts(inner);
            item.optional = true;
            out.push(item);
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            rest = rest[end..].trim_start();
            out.push(if is_token(word) {
                // A token followed by a value word carries that value.
                let next_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let next = &rest[..next_end];
                if !next.is_empty() && !next.starts_with('[') && !is_token(next) {
                    rest = rest[next_end..].trim_start();
                    Arg { name: next.to_string(), kind: kind_of(next), token: Some(word.to_string()), ..plain("") }
                } else {
                    Arg {
                        name: word.to_ascii_lowercase(),
                        kind: "pure-token",
                        token: Some(word.to_string()),
                        ..plain("")
                    }
                }
            } else {
                Arg { kind: kind_of(word), ..plain(word) }
            });
        }
    }
    out
}

fn plain(name: &str) -> Arg {
    Arg { name: name.to_string(), kind: "string", token: None, optional: false, multiple: false, children: vec![] }
}

fn block(children: Vec<Arg>) -> Arg {
    let name = children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("-");
    Arg { kind: "block", children, ..plain(&name) }
}

/// Parses the inside of brackets: alternatives, each a sequence.
fn parse_alts(s: &str) -> Arg {
    let alts = split_top(s, '|');
    let mut items: Vec<Arg> = alts
        .iter()
        .map(|a| {
            let mut seq = parse_seq(a);
            if seq.len() == 1 { seq.remove(0) } else { block(seq) }
        })
        .collect();
    if items.len() == 1 {
        items.remove(0)
    } else {
        let name = items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("-");
        Arg { kind: "oneof", children: items, ..plain(&name) }
    }
}

/// The COMMAND DOCS `arguments` for a command, or `None` if it takes none.
pub fn arguments(name: &str) -> Option<Reply> {
    let u = usage(name);
    if u.is_empty() {
        return None;
    }
    let top = split_top(u, '|');
    let args = if top.len() > 1 { vec![parse_alts(u)] } else { parse_seq(u) };
    Some(Reply::Array(args.iter().map(Arg::to_reply).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(a: &[Arg]) -> String {
        a.iter()
            .map(|x| {
                let core = match x.kind {
                    "oneof" => render(&x.children).replace(' ', "|"),
                    "block" => render(&x.children),
                    "pure-token" => x.token.clone().unwrap_or_default(),
                    _ => match &x.token {
                        Some(t) => format!("{t} {}", x.name),
                        None => x.name.clone(),
                    },
                };
                let core = if x.multiple { format!("{core} [{core} ...]") } else { core };
                if x.optional { format!("[{core}]") } else { core }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn parses_redis_notation() {
        assert_eq!(render(&parse_seq("key [key ...]")), "key [key ...]");
        assert_eq!(render(&parse_seq("key seconds [NX|XX|GT|LT]")), "key seconds [NX|XX|GT|LT]");
        let set = parse_seq(usage("set"));
        assert_eq!(set.len(), 5);
        assert_eq!(set[4].kind, "oneof");
        assert_eq!(set[4].children[0].token.as_deref(), Some("EX"));
        assert_eq!(set[4].children[4].kind, "pure-token");
        let mset = parse_seq(usage("mset"));
        assert_eq!(mset.len(), 1);
        assert!(mset[0].multiple);
        assert_eq!(mset[0].kind, "block");
    }

    #[test]
    fn every_table_command_parses() {
        for s in crate::cmd::TABLE.iter().chain(crate::cmd::TABLE.iter().flat_map(|s| s.subs.iter())) {
            let _ = arguments(s.name);
        }
    }
}
