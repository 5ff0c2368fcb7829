//! The command table: every command the node knows, in one place.
//!
//! Columns: name, arity, flags, first key, last key, key step, body, group, summary, since.

use super::flags::*;
use super::{
    Spec, client, config, connection as conn, introspect, keys, pubsub, replication as repl, server, strings as s, txn,
};

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    run: super::Handler,
    group: &'static str,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        run,
        group,
        summary,
        since,
        subs: &[],
    }
}

const fn container(
    name: &'static str,
    arity: i32,
    flags: u32,
    run: super::Handler,
    group: &'static str,
    summary: &'static str,
    subs: &'static [Spec],
) -> Spec {
    Spec { name, arity, flags, first_key: 0, last_key: 0, step: 0, run, group, summary, since: "2.0.0", subs }
}

const NK: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const KPAIRS: (i32, i32, i32) = (1, -1, 2);

const R: u32 = READONLY;
const W: u32 = WRITE;
const WD: u32 = WRITE | DENYOOM;
const CONN: u32 = NO_AUTH | NO_MULTI | FAST | LOADING | STALE;

#[rustfmt::skip]
static CLIENT_SUBS: [Spec; 12] = [
    c("client|pause", -3, ADMIN | LOADING | STALE, NK, client::pause, "connection", "Suspends commands processing.", "3.0.0"),
    c("client|unpause", 2, ADMIN | LOADING | STALE, NK, client::unpause, "connection", "Resumes processing commands from paused clients.", "6.2.0"),
    c("client|id", 2, LOADING | STALE, NK, client::id, "connection", "Returns the unique client ID of the connection.", "5.0.0"),
    c("client|setname", 3, LOADING | STALE, NK, client::setname, "connection", "Sets the connection name.", "2.6.9"),
    c("client|getname", 2, LOADING | STALE, NK, client::getname, "connection", "Returns the name of the connection.", "2.6.9"),
    c("client|setinfo", 4, LOADING | STALE, NK, client::setinfo, "connection", "Sets information specific to the client or connection.", "7.2.0"),
    c("client|info", 2, LOADING | STALE, NK, client::info, "connection", "Returns information about the connection.", "6.2.0"),
    c("client|list", -2, ADMIN | LOADING | STALE, NK, client::list, "connection", "Lists open connections.", "2.4.0"),
    c("client|kill", -3, ADMIN | LOADING | STALE, NK, client::kill, "connection", "Terminates open connections.", "2.4.0"),
    c("client|no-evict", 3, ADMIN | LOADING | STALE, NK, client::no_evict, "connection", "Sets the client eviction mode of the connection.", "7.0.0"),
    c("client|help", 2, LOADING | STALE, NK, client::help, "connection", "Returns helpful text about the different subcommands.", "5.0.0"),
    c("client|reply", 3, LOADING | STALE, NK, client_reply, "connection", "Instructs the server whether to reply to commands.", "3.2.0"),
];

fn client_reply(_: &mut super::Ctx<'_>, _: &mut crate::db::Locked<'_>, a: &[bytes::Bytes]) -> crate::error::CmdResult {
    if super::args::is(&a[2], "ON") {
        Ok(crate::reply::Reply::Ok)
    } else {
        Err(crate::error::CmdError::msg("CLIENT REPLY OFF|SKIP is not supported"))
    }
}

#[rustfmt::skip]
static CONFIG_SUBS: [Spec; 5] = [
    c("config|rewrite", 2, ADMIN | LOADING | STALE, NK, config::rewrite, "server", "Persists the effective configuration to file.", "2.8.0"),
    c("config|get", -3, ADMIN | LOADING | STALE, NK, config::get, "server", "Returns the effective values of configuration parameters.", "2.0.0"),
    c("config|set", -4, ADMIN | LOADING | STALE, NK, config::set, "server", "Sets configuration parameters in-flight.", "2.0.0"),
    c("config|resetstat", 2, ADMIN | LOADING | STALE | ALL_KEYS, NK, config::resetstat, "server", "Resets the server's statistics.", "2.0.0"),
    c("config|help", 2, LOADING | STALE, NK, config::help, "server", "Returns helpful text about the different subcommands.", "5.0.0"),
];

#[rustfmt::skip]
static COMMAND_SUBS: [Spec; 6] = [
    c("command|count", 2, LOADING | STALE, NK, introspect::count, "server", "Returns a count of commands.", "2.8.13"),
    c("command|info", -2, LOADING | STALE, NK, introspect::info, "server", "Returns information about one, multiple or all commands.", "2.8.13"),
    c("command|docs", -2, LOADING | STALE, NK, introspect::docs_cmd, "server", "Returns documentary information about one, multiple or all commands.", "7.0.0"),
    c("command|list", -2, LOADING | STALE, NK, introspect::list, "server", "Returns a list of command names.", "7.0.0"),
    c("command|getkeys", -3, LOADING | STALE, NK, introspect::getkeys, "server", "Extracts the key names from an arbitrary command.", "2.8.13"),
    c("command|help", 2, LOADING | STALE, NK, introspect::help, "server", "Returns helpful text about the different subcommands.", "5.0.0"),
];

#[rustfmt::skip]
static PUBSUB_SUBS: [Spec; 4] = [
    c("pubsub|channels", -2, PUBSUB | LOADING | STALE, NK, pubsub::pubsub_channels, "pubsub", "Returns the active channels.", "2.8.0"),
    c("pubsub|numsub", -2, PUBSUB | LOADING | STALE, NK, pubsub::pubsub_numsub, "pubsub", "Returns a count of subscribers to channels.", "2.8.0"),
    c("pubsub|numpat", 2, PUBSUB | LOADING | STALE, NK, pubsub::pubsub_numpat, "pubsub", "Returns a count of unique pattern subscriptions.", "2.8.0"),
    c("pubsub|help", 2, LOADING | STALE, NK, pubsub::pubsub_help, "pubsub", "Returns helpful text about the different subcommands.", "6.2.0"),
];

/// Every command.
#[rustfmt::skip]
pub static TABLE: &[Spec] = &[
    // connection
    c("ping", -1, FAST | SUB_CONTEXT, NK, conn::ping, "connection", "Returns the server's liveliness response.", "1.0.0"),
    c("echo", 2, FAST, NK, conn::echo, "connection", "Returns the given string.", "1.0.0"),
    c("hello", -1, CONN, NK, conn::hello, "connection", "Handshakes with the Redis server.", "6.0.0"),
    c("auth", -2, CONN, NK, conn::auth, "connection", "Authenticates the connection.", "1.0.0"),
    c("select", 2, FAST | LOADING | STALE, NK, conn::select, "connection", "Changes the selected database.", "1.0.0"),
    c("quit", -1, CONN | SUB_CONTEXT, NK, conn::quit, "connection", "Closes the connection.", "1.0.0"),
    c("reset", 1, CONN | SUB_CONTEXT | ALL_KEYS, NK, conn::reset, "connection", "Resets the connection.", "6.2.0"),
    container("client", -2, 0, client::help, "connection", "A container for client connection commands.", &CLIENT_SUBS),
    // keys
    c("del", -2, W, KALL, keys::del, "generic", "Deletes one or more keys.", "1.0.0"),
    c("unlink", -2, W | FAST, KALL, keys::del, "generic", "Asynchronously deletes one or more keys.", "4.0.0"),
    c("exists", -2, R | FAST, KALL, keys::exists, "generic", "Determines whether one or more keys exist.", "1.0.0"),
    c("touch", -2, R | FAST, KALL, keys::exists, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "3.2.1"),
    c("type", 2, R | FAST, K1, keys::type_, "generic", "Determines the type of value stored at a key.", "1.0.0"),
    c("expire", -3, W | FAST, K1, keys::expire, "generic", "Sets the expiration time of a key in seconds.", "1.0.0"),
    c("pexpire", -3, W | FAST, K1, keys::pexpire, "generic", "Sets the expiration time of a key in milliseconds.", "2.6.0"),
    c("expireat", -3, W | FAST, K1, keys::expireat, "generic", "Sets the expiration time of a key to a Unix timestamp.", "1.2.0"),
    c("pexpireat", -3, W | FAST, K1, keys::pexpireat, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0"),
    c("expiretime", 2, R | FAST, K1, keys::expiretime, "generic", "Returns the expiration time of a key as a Unix timestamp.", "7.0.0"),
    c("pexpiretime", 2, R | FAST, K1, keys::pexpiretime, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0"),
    c("ttl", 2, R | FAST, K1, keys::ttl, "generic", "Returns the expiration time in seconds of a key.", "1.0.0"),
    c("pttl", 2, R | FAST, K1, keys::pttl, "generic", "Returns the expiration time in milliseconds of a key.", "2.6.0"),
    c("persist", 2, W | FAST, K1, keys::persist, "generic", "Removes the expiration time of a key.", "2.2.0"),
    c("keys", 2, R | ALL_KEYS, NK, keys::keys, "generic", "Returns all key names that match a pattern.", "1.0.0"),
    c("scan", -2, R | ALL_KEYS, NK, keys::scan, "generic", "Iterates over the key names in the database.", "2.8.0"),
    c("randomkey", 1, R | ALL_KEYS, NK, keys::randomkey, "generic", "Returns a random key name from the database.", "1.0.0"),
    c("rename", 3, W, K12, keys::rename, "generic", "Renames a key and overwrites the destination.", "1.0.0"),
    c("renamenx", 3, W | FAST, K12, keys::renamenx, "generic", "Renames a key only when the target key name doesn't exist.", "1.0.0"),
    c("copy", -3, WD, K12, keys::copy, "generic", "Copies the value of a key to a new key.", "6.2.0"),
    c("move", 3, W | FAST, K1, keys::move_, "generic", "Moves a key to another database.", "1.0.0"),
    c("dbsize", 1, R | FAST | ALL_KEYS, NK, keys::dbsize, "server", "Returns the number of keys in the database.", "1.0.0"),
    c("flushdb", -1, W | ALL_KEYS, NK, keys::flushdb, "server", "Removes all keys from the current database.", "1.0.0"),
    c("flushall", -1, W | ALL_KEYS, NK, keys::flushall, "server", "Removes all keys from all databases.", "1.0.0"),
    c("swapdb", 3, W | FAST | ALL_KEYS, NK, keys::swapdb, "server", "Swaps two Redis databases.", "4.0.0"),
    // strings
    c("get", 2, R | FAST, K1, s::get, "string", "Returns the string value of a key.", "1.0.0"),
    c("set", -3, WD, K1, s::set, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0"),
    c("setnx", 3, WD | FAST, K1, s::setnx, "string", "Set the string value of a key only when the key doesn't exist.", "1.0.0"),
    c("setex", 4, WD, K1, s::setex, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "2.0.0"),
    c("psetex", 4, WD, K1, s::psetex, "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "2.6.0"),
    c("mget", -2, R | FAST, KALL, s::mget, "string", "Atomically returns the string values of one or more keys.", "1.0.0"),
    c("mset", -3, WD, KPAIRS, s::mset, "string", "Atomically creates or modifies the string values of one or more keys.", "1.0.1"),
    c("msetnx", -3, WD, KPAIRS, s::msetnx, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "1.0.1"),
    c("getset", 3, WD | FAST, K1, s::getset, "string", "Returns the previous string value of a key after setting it to a new value.", "1.0.0"),
    c("getdel", 2, W | FAST, K1, s::getdel, "string", "Returns the string value of a key after deleting the key.", "6.2.0"),
    c("getex", -2, W | FAST, K1, s::getex, "string", "Returns the string value of a key after setting its expiration time.", "6.2.0"),
    c("append", 3, WD | FAST, K1, s::append, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0"),
    c("strlen", 2, R | FAST, K1, s::strlen, "string", "Returns the length of a string value.", "2.2.0"),
    c("getrange", 4, R, K1, s::getrange, "string", "Returns a substring of the string stored at a key.", "2.4.0"),
    c("substr", 4, R, K1, s::getrange, "string", "Returns a substring from a string value.", "1.0.0"),
    c("setrange", 4, WD, K1, s::setrange, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "2.2.0"),
    c("incr", 2, WD | FAST, K1, s::incr, "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    c("decr", 2, WD | FAST, K1, s::decr, "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    c("incrby", 3, WD | FAST, K1, s::incrby, "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    c("decrby", 3, WD | FAST, K1, s::decrby, "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    c("incrbyfloat", 3, WD | FAST, K1, s::incrbyfloat, "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "2.6.0"),
    // pub/sub
    c("subscribe", -2, PUBSUB | SUB_CONTEXT | LOADING | STALE, NK, pubsub::subscribe, "pubsub", "Listens for messages published to channels.", "2.0.0"),
    c("psubscribe", -2, PUBSUB | SUB_CONTEXT | LOADING | STALE, NK, pubsub::psubscribe, "pubsub", "Listens for messages published to channels that match one or more patterns.", "2.0.0"),
    c("unsubscribe", -1, PUBSUB | SUB_CONTEXT | LOADING | STALE, NK, pubsub::unsubscribe, "pubsub", "Stops listening to messages posted to channels.", "2.0.0"),
    c("punsubscribe", -1, PUBSUB | SUB_CONTEXT | LOADING | STALE, NK, pubsub::punsubscribe, "pubsub", "Stops listening to messages published to channels that match one or more patterns.", "2.0.0"),
    c("publish", 3, PUBSUB | FAST | LOADING | STALE, NK, pubsub::publish, "pubsub", "Posts a message to a channel.", "2.0.0"),
    container("pubsub", -2, 0, pubsub::pubsub_help, "pubsub", "A container for Pub/Sub commands.", &PUBSUB_SUBS),
    // transactions
    c("multi", 1, NO_MULTI | FAST | LOADING | STALE, NK, txn::multi, "transactions", "Starts a transaction.", "1.2.0"),
    c("exec", 1, NO_MULTI | LOADING | STALE | ALL_KEYS, NK, txn::exec, "transactions", "Executes all commands in a transaction.", "1.2.0"),
    c("discard", 1, NO_MULTI | FAST | LOADING | STALE | ALL_KEYS, NK, txn::discard, "transactions", "Discards a transaction.", "2.0.0"),
    c("watch", -2, NO_MULTI | FAST | LOADING | STALE, KALL, txn::watch, "transactions", "Monitors changes to keys to determine the execution of a transaction.", "2.2.0"),
    c("unwatch", 1, FAST | LOADING | STALE | ALL_KEYS, NK, txn::unwatch, "transactions", "Forgets about watched keys of a transaction.", "2.2.0"),
    // server
    c("info", -1, LOADING | STALE | ALL_KEYS, NK, server::info, "server", "Returns information and statistics about the server.", "1.0.0"),
    c("time", 1, FAST | LOADING | STALE, NK, server::time, "server", "Returns the server time.", "2.6.0"),
    c("role", 1, FAST | LOADING | STALE, NK, repl::role, "server", "Returns the replication role.", "2.8.12"),
    c("replicaof", 3, ADMIN | STALE | ALL_KEYS, NK, repl::replicaof, "server", "Configures a server as replica of another, or promotes it to a master.", "5.0.0"),
    c("slaveof", 3, ADMIN | STALE | ALL_KEYS, NK, repl::replicaof, "server", "Sets a Redis server as a replica of another, or promotes it to being a master.", "1.0.0"),
    c("replconf", -1, ADMIN | NO_MULTI | LOADING | STALE, NK, repl::replconf, "server", "An internal command for configuring the replication stream.", "3.0.0"),
    c("psync", -3, ADMIN | NO_MULTI | STALE, NK, repl::psync, "server", "An internal command used in replication.", "2.8.0"),
    c("sync", 1, ADMIN | NO_MULTI | STALE, NK, repl::sync, "server", "An internal command used in replication.", "1.0.0"),
    c("wait", 3, 0, NK, repl::wait, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "3.0.0"),
    c("lastsave", 1, FAST | LOADING | STALE, NK, server::lastsave, "server", "Returns the Unix timestamp of the last successful save to disk.", "1.0.0"),
    c("debug", -2, ADMIN | LOADING | STALE, NK, server::debug, "server", "A container for debugging commands.", "1.0.0"),
    c("shutdown", -1, ADMIN | NO_MULTI | LOADING | STALE, NK, server::shutdown, "server", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "1.0.0"),
    container("config", -2, 0, config::help, "server", "A container for server configuration commands.", &CONFIG_SUBS),
    Spec {
        arity: -1,
        ..container(
            "command",
            -1,
            LOADING | STALE,
            introspect::command,
            "server",
            "Returns detailed information about all commands.",
            &COMMAND_SUBS,
        )
    },
];
