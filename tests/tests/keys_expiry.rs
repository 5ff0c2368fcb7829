//! Generic key commands, keyspace iteration, databases, and lazy + active expiry.

use std::collections::HashSet;
use std::time::Duration;

use vigil_tests::{Node, q, q_err, wait_until};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const DB_RANGE: &str = "ERR DB index is out of range";

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = q(c, &["INFO", section]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{info}"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn del_unlink_exists_type_touch() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a", "a", "nope", "b"]), 3, "duplicates count twice");
    assert_eq!(q::<String>(&mut c, &["TYPE", "a"]), "string");
    assert_eq!(q::<String>(&mut c, &["TYPE", "nope"]), "none");
    assert_eq!(q::<i64>(&mut c, &["TOUCH", "a", "a", "nope"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DEL", "a", "a", "nope"]), 1);
    assert_eq!(q::<i64>(&mut c, &["UNLINK", "b", "c", "nope"]), 2);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a", "b", "c", "d"]), 1);
    assert_eq!(q_err(&mut c, &["DEL"]), "ERR wrong number of arguments for 'del' command");
    assert_eq!(q_err(&mut c, &["EXISTS"]), "ERR wrong number of arguments for 'exists' command");
}

#[test]
fn expire_family_with_conditions() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "a"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "a"]), -1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "a"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "nope"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "100", "XX"]), 0, "XX without a TTL");
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "100", "GT"]), 0, "GT: no TTL counts as infinite");
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "100", "NX"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "200", "NX"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "50", "GT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "200", "GT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "a"]), 200);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "300", "LT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "10", "lt"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "100", "XX"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "a"]), 100);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "nope", "100"]), 0);

    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "a", "300000"]), 1);
    let p: i64 = q(&mut c, &["PTTL", "a"]);
    assert!((299_000..=300_000).contains(&p), "pttl {p}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "a", &(now + 1000).to_string()]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "a"]), now + 1000);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "a"]), (now + 1000) * 1000);
    let at = (now + 2000) * 1000 + 5;
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "a", &at.to_string(), "GT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "a"]), at);
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "a", &(at + 1).to_string(), "LT"]), 0);

    assert_eq!(q::<i64>(&mut c, &["PERSIST", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["TTL", "a"]), -1);

    // A TTL of zero or a time in the past deletes the key.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    let _: () = q(&mut c, &["SET", "b", "1"]);
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "b", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "b"]), 0);

    let _: () = q(&mut c, &["SET", "b", "1"]);
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "b", "100", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "b", "100", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(q_err(&mut c, &["EXPIRE", "b", "100", "FOO"]), "ERR Unsupported option FOO");
    assert_eq!(q_err(&mut c, &["EXPIRE", "b", "abc"]), NOT_INT);
    assert_eq!(q_err(&mut c, &["EXPIRE", "b", "9223372036854775807"]), "ERR invalid expire time in 'expire' command");
    assert_eq!(q_err(&mut c, &["PEXPIRE", "b", "9223372036854775807"]), "ERR invalid expire time in 'pexpire' command");
    assert_eq!(q::<i64>(&mut c, &["TTL", "b"]), -1);
}

#[test]
fn lazy_expiry_of_a_short_ttl() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["SET", "k", "v", "PX", "50"]);
    assert!(wait_until(Duration::from_secs(5), || q::<i64>(&mut c, &["EXISTS", "k"]) == 0));
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -2);
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "k"]), None);
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("SET").arg(format!("exp:{i}")).arg("v").arg("PX").arg(100).ignore();
    }
    let _: () = pipe.query(&mut c).expect("pipeline");
    let _: () = q(&mut c, &["SET", "keeper", "v"]);
    // Only DBSIZE and INFO from now on: they never touch the expiring keys.
    assert!(
        wait_until(Duration::from_secs(10), || q::<i64>(&mut c, &["DBSIZE"]) == 1),
        "DBSIZE stuck at {}",
        q::<i64>(&mut c, &["DBSIZE"])
    );
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), "10000");
    assert_eq!(info_field(&mut c, "keyspace", "db0"), "keys=1,expires=0,avg_ttl=0");
}

#[test]
fn keys_glob_patterns() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    for k in ["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other"] {
        let _: () = q(&mut c, &["SET", k, "1"]);
    }
    let keys = |c: &mut redis::Connection, p: &str| sorted(q::<Vec<String>>(c, &["KEYS", p]));
    assert_eq!(keys(&mut c, "*").len(), 7);
    assert_eq!(keys(&mut c, "h?llo"), ["h*llo", "hallo", "hello", "hxllo"]);
    assert_eq!(keys(&mut c, "h*llo"), ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut c, "h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut c, "h\\*llo"), ["h*llo"]);
    assert_eq!(keys(&mut c, "nothing*"), Vec::<String>::new());
    assert_eq!(keys(&mut c, "other"), ["other"]);
}

#[test]
fn scan_iterates_every_key_once() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let mut pipe = redis::pipe();
    let mut want = HashSet::new();
    for i in 0..5_000 {
        let k = if i % 10 == 0 { format!("odd key \u{e9}\r\n{i}") } else { format!("key:{i}") };
        pipe.cmd("SET").arg(&k).arg(i).ignore();
        want.insert(k);
    }
    let _: () = pipe.query(&mut c).expect("pipeline");

    let scan_all = |c: &mut redis::Connection, extra: &[&str]| {
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        let mut rounds = 0;
        loop {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let (next, batch): (String, Vec<String>) = q(c, &args);
            seen.extend(batch);
            rounds += 1;
            if next == "0" {
                return (seen, rounds);
            }
            cursor = next;
        }
    };
    let (seen, rounds) = scan_all(&mut c, &[]);
    assert_eq!(seen.len(), 5_000, "no duplicates, nothing missing");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), want);
    assert!(rounds > 1, "default COUNT 10 takes many rounds");

    let (big, big_rounds) = scan_all(&mut c, &["COUNT", "1000"]);
    assert_eq!(big.len(), 5_000);
    assert!(big_rounds < rounds);

    let (matched, _) = scan_all(&mut c, &["MATCH", "key:1*", "COUNT", "100"]);
    let want_match: HashSet<String> = want.iter().filter(|k| k.starts_with("key:1")).cloned().collect();
    assert_eq!(matched.len(), want_match.len());
    assert_eq!(matched.into_iter().collect::<HashSet<_>>(), want_match);

    let (strings, _) = scan_all(&mut c, &["TYPE", "string", "COUNT", "500"]);
    assert_eq!(strings.len(), 5_000);
    let (lists, _) = scan_all(&mut c, &["TYPE", "list", "COUNT", "500"]);
    assert!(lists.is_empty());

    assert_eq!(q_err(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(q_err(&mut c, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    assert_eq!(q_err(&mut c, &["SCAN", "0", "COUNT", "abc"]), NOT_INT);
    assert_eq!(q_err(&mut c, &["SCAN", "0", "FOO"]), "ERR syntax error");
}

#[test]
fn rename_renamenx_randomkey() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<Option<String>>(&mut c, &["RANDOMKEY"]), None);
    assert_eq!(q_err(&mut c, &["RENAME", "nope", "x"]), "ERR no such key");
    assert_eq!(q_err(&mut c, &["RENAMENX", "nope", "x"]), "ERR no such key");
    let _: () = q(&mut c, &["SET", "a", "1", "EX", "100"]);
    let _: () = q(&mut c, &["SET", "b", "2"]);
    assert_eq!(q::<String>(&mut c, &["RENAME", "a", "c"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "c"]), "1");
    assert_eq!(q::<i64>(&mut c, &["TTL", "c"]), 100, "RENAME keeps the TTL");
    assert_eq!(q::<String>(&mut c, &["RENAME", "c", "b"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "b"]), "1");
    assert_eq!(q::<String>(&mut c, &["RENAME", "b", "b"]), "OK");
    let _: () = q(&mut c, &["SET", "d", "4"]);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "d", "b"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "d", "e"]), 1);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "e", "e"]), 0);
    let ks: HashSet<String> = ["b".to_string(), "e".to_string()].into();
    for _ in 0..20 {
        let k: String = q(&mut c, &["RANDOMKEY"]);
        assert!(ks.contains(&k), "{k}");
    }
}

#[test]
fn copy_move_and_databases() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["SET", "src", "v", "EX", "100"]);
    let _: () = q(&mut c, &["SET", "dst", "old"]);
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "dst"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "dst"]), "old");
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "dst", "REPLACE"]), 1);
    assert_eq!(q::<String>(&mut c, &["GET", "dst"]), "v");
    assert_eq!(q::<i64>(&mut c, &["TTL", "dst"]), 100, "COPY copies the TTL");
    assert_eq!(q::<i64>(&mut c, &["COPY", "nope", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "dst", "DB", "1"]), 1);
    assert_eq!(q_err(&mut c, &["COPY", "src", "src"]), "ERR source and destination objects are the same");
    assert_eq!(q_err(&mut c, &["COPY", "src", "x", "DB", "99"]), DB_RANGE);
    assert_eq!(q_err(&mut c, &["COPY", "src", "x", "DB", "abc"]), NOT_INT);

    assert_eq!(q::<i64>(&mut c, &["MOVE", "src", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "src"]), 0);
    let _: () = q(&mut c, &["SET", "dst2", "x"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "dst", "1"]), 0, "already in db 1");
    assert_eq!(q::<i64>(&mut c, &["MOVE", "nope", "1"]), 0);
    assert_eq!(q_err(&mut c, &["MOVE", "dst2", "0"]), "ERR source and destination objects are the same");
    assert_eq!(q_err(&mut c, &["MOVE", "dst2", "16"]), DB_RANGE);

    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2);
    assert_eq!(q::<String>(&mut c, &["SELECT", "1"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2);
    assert_eq!(q::<String>(&mut c, &["GET", "dst"]), "v");
    assert!(q::<i64>(&mut c, &["TTL", "src"]) > 90, "MOVE keeps the TTL");
    assert_eq!(q_err(&mut c, &["SELECT", "16"]), DB_RANGE);
    assert_eq!(q_err(&mut c, &["SELECT", "-1"]), DB_RANGE);
    assert_eq!(q_err(&mut c, &["SELECT", "abc"]), NOT_INT);

    // SWAPDB is seen by every connection.
    let mut other = node.conn();
    assert_eq!(q::<String>(&mut c, &["SWAPDB", "0", "1"]), "OK");
    assert_eq!(q::<Option<String>>(&mut other, &["GET", "src"]), Some("v".into()));
    assert_eq!(q::<Option<String>>(&mut other, &["GET", "dst2"]), None);
    assert_eq!(q::<String>(&mut c, &["GET", "dst2"]), "x");
    assert_eq!(q_err(&mut c, &["SWAPDB", "0", "16"]), DB_RANGE);
    assert_eq!(q_err(&mut c, &["SWAPDB", "0", "abc"]), "ERR invalid second DB index");
    assert_eq!(q_err(&mut c, &["SWAPDB", "abc", "0"]), "ERR invalid first DB index");

    // FLUSHDB empties only the selected database; FLUSHALL empties all.
    assert_eq!(q::<String>(&mut c, &["FLUSHDB"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut other, &["DBSIZE"]), 2);
    assert_eq!(q::<String>(&mut c, &["FLUSHDB", "ASYNC"]), "OK");
    let _: () = q(&mut c, &["SET", "k", "1"]);
    assert_eq!(q::<String>(&mut other, &["FLUSHALL", "SYNC"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut other, &["DBSIZE"]), 0);
    let _: () = q(&mut c, &["SET", "k", "1"]);
    assert_eq!(q::<String>(&mut other, &["FLUSHALL", "ASYNC"]), "OK");
    assert!(wait_until(Duration::from_secs(5), || q::<i64>(&mut c, &["DBSIZE"]) == 0));
    assert_eq!(q_err(&mut c, &["FLUSHALL", "FOO"]), "ERR syntax error");
    assert_eq!(q_err(&mut c, &["FLUSHDB", "FOO"]), "ERR syntax error");
}

#[test]
fn keyspace_info_counts_keys_and_expires() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let _: () = q(&mut c, &["EXPIRE", "a", "1000"]);
    let line = info_field(&mut c, "keyspace", "db0");
    assert!(line.starts_with("keys=3,expires=1,avg_ttl="), "{line}");
    let _: () = q(&mut c, &["SELECT", "3"]);
    let _: () = q(&mut c, &["SET", "x", "1"]);
    assert_eq!(info_field(&mut c, "keyspace", "db3"), "keys=1,expires=0,avg_ttl=0");
}

#[test]
fn scan_of_a_small_keyspace_completes_in_one_call() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
    let (cursor, keys): (String, Vec<String>) = q(&mut c, &["SCAN", "0"]);
    assert_eq!(cursor, "0", "Redis answers a small keyspace in one call");
    assert_eq!(sorted(keys), ["a", "b", "c", "d", "e"]);
    let (cursor, keys): (String, Vec<String>) = q(&mut c, &["SCAN", "0", "MATCH", "[ab]"]);
    assert_eq!((cursor.as_str(), sorted(keys)), ("0", vec!["a".to_string(), "b".to_string()]));
}
