//! String commands against the real node, with Redis 7.0 replies and exact error strings.

use std::time::Duration;

use redis::Value;
use vigil_tests::{Node, q, q_err, wait_until};

const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";

fn ttl(c: &mut redis::Connection, key: &str) -> i64 {
    q(c, &["TTL", key])
}

fn pttl(c: &mut redis::Connection, key: &str) -> i64 {
    q(c, &["PTTL", key])
}

#[test]
fn get_and_set_basics() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "missing"]), None);
    assert_eq!(q::<String>(&mut c, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    // Binary-safe values, including CR LF and zero bytes.
    let bin = b"a\r\n\x00b\xff".to_vec();
    let _: () = redis::cmd("SET").arg("bin").arg(&bin).query(&mut c).expect("SET bin");
    let got: Vec<u8> = redis::cmd("GET").arg("bin").query(&mut c).expect("GET bin");
    assert_eq!(got, bin);
    assert_eq!(q_err(&mut c, &["GET"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(q_err(&mut c, &["GET", "a", "b"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(q_err(&mut c, &["SET", "k"]), "ERR wrong number of arguments for 'set' command");
}

#[test]
fn set_expiry_options() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "ex", "v", "EX", "100"]), "OK");
    assert_eq!(ttl(&mut c, "ex"), 100);
    assert_eq!(q::<String>(&mut c, &["SET", "px", "v", "px", "100000"]), "OK");
    let p = pttl(&mut c, "px");
    assert!((99_000..=100_000).contains(&p), "pttl {p}");
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    assert_eq!(q::<String>(&mut c, &["SET", "exat", "v", "EXAT", &(now_s + 1000).to_string()]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "exat"]), now_s + 1000);
    let at_ms = (now_s + 2000) * 1000 + 123;
    assert_eq!(q::<String>(&mut c, &["SET", "pxat", "v", "PXAT", &at_ms.to_string()]), "OK");
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "pxat"]), at_ms);
    // A plain SET clears the TTL; KEEPTTL keeps it.
    assert_eq!(q::<String>(&mut c, &["SET", "ex", "v2", "KEEPTTL"]), "OK");
    assert_eq!(ttl(&mut c, "ex"), 100);
    assert_eq!(q::<String>(&mut c, &["GET", "ex"]), "v2");
    assert_eq!(q::<String>(&mut c, &["SET", "ex", "v3"]), "OK");
    assert_eq!(ttl(&mut c, "ex"), -1);
    // An absolute time in the past deletes the key at once.
    assert_eq!(q::<String>(&mut c, &["SET", "past", "v", "PXAT", "1"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "past"]), 0);
}

#[test]
fn set_with_px_disappears() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "short", "v", "PX", "50"]), "OK");
    assert!(wait_until(Duration::from_secs(5), || q::<Option<String>>(&mut c, &["GET", "short"]).is_none()));
    assert_eq!(pttl(&mut c, "short"), -2);
}

#[test]
fn set_conditions_and_get_option() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "v", "XX"]), None);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "v", "NX"]), Some("OK".into()));
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "w", "NX"]), None);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "w", "XX"]), Some("OK".into()));
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "w");
    // GET returns the old value (nil when absent), also when NX/XX prevents the write.
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "g", "1", "GET"]), None);
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "g", "2", "GET"]), Some("1".into()));
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "g", "3", "NX", "GET"]), Some("2".into()));
    assert_eq!(q::<String>(&mut c, &["GET", "g"]), "2");
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "g2", "x", "XX", "GET"]), None);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "g2"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "g", "4", "GET", "EX", "50"]), Some("2".into()));
    assert_eq!(ttl(&mut c, "g"), 50);
}

#[test]
fn set_option_errors() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "EXAT", "10", "PXAT", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "FOO"],
    ] {
        assert_eq!(q_err(&mut c, bad), SYNTAX, "{bad:?}");
    }
    let invalid = "ERR invalid expire time in 'set' command";
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "EX", "0"]), invalid);
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "EX", "-1"]), invalid);
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "PX", "9223372036854775807"]), invalid);
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "EXAT", "0"]), invalid);
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "GET", "EX", "0"]), invalid);
    assert_eq!(q_err(&mut c, &["SET", "k", "v", "EX", "abc"]), NOT_INT);
    // None of the failed commands wrote anything.
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn setnx_setex_psetex() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "b"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "a");
    assert_eq!(q::<String>(&mut c, &["SETEX", "se", "100", "v"]), "OK");
    assert_eq!(ttl(&mut c, "se"), 100);
    assert_eq!(q::<String>(&mut c, &["GET", "se"]), "v");
    assert_eq!(q::<String>(&mut c, &["PSETEX", "pse", "100000", "v"]), "OK");
    assert!((99_000..=100_000).contains(&pttl(&mut c, "pse")));
    assert_eq!(q_err(&mut c, &["SETEX", "se", "0", "v"]), "ERR invalid expire time in 'setex' command");
    assert_eq!(q_err(&mut c, &["PSETEX", "se", "-5", "v"]), "ERR invalid expire time in 'psetex' command");
    assert_eq!(q_err(&mut c, &["SETEX", "se", "x", "v"]), NOT_INT);
    assert_eq!(q_err(&mut c, &["SETEX", "se", "1"]), "ERR wrong number of arguments for 'setex' command");
}

#[test]
fn mget_mset_msetnx() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<String>(&mut c, &["MSET", "a", "1", "b", "2", "a", "3"]), "OK");
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "a", "b", "nope", "a"]);
    assert_eq!(got, vec![Some("3".into()), Some("2".into()), None, Some("3".into())]);
    assert_eq!(q_err(&mut c, &["MSET", "a"]), "ERR wrong number of arguments for 'mset' command");
    assert_eq!(q_err(&mut c, &["MSET", "a", "b", "c"]), "ERR wrong number of arguments for 'mset' command");
    assert_eq!(q_err(&mut c, &["MSETNX", "x", "1", "y"]), "ERR wrong number of arguments for 'msetnx' command");
    assert_eq!(q_err(&mut c, &["MGET"]), "ERR wrong number of arguments for 'mget' command");
    // MSETNX is all or nothing.
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "x", "1", "y", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "y", "9", "z", "9"]), 0);
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "x", "y", "z"]);
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
    // MSET clears TTLs.
    assert_eq!(q::<String>(&mut c, &["SET", "t", "v", "EX", "100"]), "OK");
    assert_eq!(q::<String>(&mut c, &["MSET", "t", "w"]), "OK");
    assert_eq!(ttl(&mut c, "t"), -1);
}

#[test]
fn getset_getdel_getex() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<Option<String>>(&mut c, &["GETSET", "k", "1"]), None);
    assert_eq!(q::<String>(&mut c, &["SET", "k", "1", "EX", "100"]), "OK");
    assert_eq!(q::<Option<String>>(&mut c, &["GETSET", "k", "2"]), Some("1".into()));
    assert_eq!(ttl(&mut c, "k"), -1, "GETSET clears the TTL");
    assert_eq!(q::<Option<String>>(&mut c, &["GETDEL", "k"]), Some("2".into()));
    assert_eq!(q::<Option<String>>(&mut c, &["GETDEL", "k"]), None);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);

    assert_eq!(q::<String>(&mut c, &["SET", "e", "v"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GETEX", "e"]), "v");
    assert_eq!(ttl(&mut c, "e"), -1);
    assert_eq!(q::<String>(&mut c, &["GETEX", "e", "EX", "100"]), "v");
    assert_eq!(ttl(&mut c, "e"), 100);
    assert_eq!(q::<String>(&mut c, &["GETEX", "e", "PX", "200000"]), "v");
    assert!((199_000..=200_000).contains(&pttl(&mut c, "e")));
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    assert_eq!(q::<String>(&mut c, &["GETEX", "e", "EXAT", &(now_s + 500).to_string()]), "v");
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "e"]), now_s + 500);
    let at = (now_s + 600) * 1000 + 7;
    assert_eq!(q::<String>(&mut c, &["GETEX", "e", "PXAT", &at.to_string()]), "v");
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "e"]), at);
    assert_eq!(q::<String>(&mut c, &["GETEX", "e", "PERSIST"]), "v");
    assert_eq!(ttl(&mut c, "e"), -1);
    assert_eq!(q::<Option<String>>(&mut c, &["GETEX", "nokey", "EX", "10"]), None);
    assert_eq!(q_err(&mut c, &["GETEX", "e", "PERSIST", "EX", "10"]), SYNTAX);
    assert_eq!(q_err(&mut c, &["GETEX", "e", "FOO"]), SYNTAX);
    assert_eq!(q_err(&mut c, &["GETEX", "e", "EX", "0"]), "ERR invalid expire time in 'getex' command");
    assert_eq!(q_err(&mut c, &["GETEX", "e", "EX", "-3"]), "ERR invalid expire time in 'getex' command");
    assert_eq!(q_err(&mut c, &["GETEX", "e", "PX", "abc"]), NOT_INT);
    assert_eq!(ttl(&mut c, "e"), -1);
}

#[test]
fn append_strlen_getrange() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", "hello"]), 5);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", " world"]), 11);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", ""]), 11);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 11);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "nope"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "hello world");
    assert_eq!(q::<String>(&mut c, &["SET", "k", "hello"]), "OK");
    for (start, end, want) in [
        ("0", "-1", "hello"),
        ("-3", "-1", "llo"),
        ("1", "100", "ello"),
        ("-100", "1", "he"),
        ("0", "-100", "h"), // Redis 7.0: a too-negative end clamps to 0
        ("3", "1", ""),
        ("10", "20", ""),
        ("0", "0", "h"),
    ] {
        assert_eq!(q::<String>(&mut c, &["GETRANGE", "k", start, end]), want, "GETRANGE {start} {end}");
    }
    assert_eq!(q::<String>(&mut c, &["GETRANGE", "nope", "0", "-1"]), "");
    assert_eq!(q::<String>(&mut c, &["SUBSTR", "k", "1", "2"]), "el");
    assert_eq!(q_err(&mut c, &["GETRANGE", "k", "a", "1"]), NOT_INT);
}

#[test]
fn setrange_pads_and_limits() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "n", "3", "ab"]), 5);
    let got: Vec<u8> = redis::cmd("GET").arg("n").query(&mut c).expect("GET");
    assert_eq!(got, b"\x00\x00\x00ab");
    assert_eq!(q::<String>(&mut c, &["SET", "k", "hello world"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "6", "redis"]), 11);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "hello redis");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "1", ""]), 11);
    // An empty value on a missing key creates nothing.
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "empty", "10", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "empty"]), 0);
    assert_eq!(q_err(&mut c, &["SETRANGE", "k", "-1", "x"]), "ERR offset is out of range");
    assert_eq!(
        q_err(&mut c, &["SETRANGE", "k", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(q_err(&mut c, &["SETRANGE", "k", "x", "x"]), NOT_INT);
}

#[test]
fn integer_counters() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "41"]), 42);
    assert_eq!(q::<i64>(&mut c, &["DECR", "n"]), 41);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "n", "50"]), -9);
    assert_eq!(q::<String>(&mut c, &["GET", "n"]), "-9");
    assert_eq!(q::<i64>(&mut c, &["DECR", "fresh"]), -1);
    // Counters keep the TTL.
    assert_eq!(q::<String>(&mut c, &["SET", "t", "5", "EX", "100"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["INCR", "t"]), 6);
    assert_eq!(ttl(&mut c, "t"), 100);

    for v in ["abc", " 1", "1.5", "", "99999999999999999999"] {
        assert_eq!(q::<String>(&mut c, &["SET", "x", v]), "OK");
        assert_eq!(q_err(&mut c, &["INCR", "x"]), NOT_INT, "INCR on {v:?}");
    }
    assert_eq!(q_err(&mut c, &["INCRBY", "n", "abc"]), NOT_INT);
    assert_eq!(q_err(&mut c, &["DECRBY", "n", "1.0"]), NOT_INT);

    assert_eq!(q::<String>(&mut c, &["SET", "big", "9223372036854775807"]), "OK");
    assert_eq!(q_err(&mut c, &["INCR", "big"]), "ERR increment or decrement would overflow");
    assert_eq!(q_err(&mut c, &["INCRBY", "big", "1"]), "ERR increment or decrement would overflow");
    assert_eq!(q::<String>(&mut c, &["SET", "small", "-9223372036854775808"]), "OK");
    assert_eq!(q_err(&mut c, &["DECR", "small"]), "ERR increment or decrement would overflow");
    assert_eq!(q_err(&mut c, &["DECRBY", "small", "-9223372036854775808"]), "ERR decrement would overflow");
    assert_eq!(q::<String>(&mut c, &["GET", "big"]), "9223372036854775807");
}

#[test]
fn incrbyfloat_replies() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "f", "10.5"]), "OK");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(q::<String>(&mut c, &["GET", "f"]), "10.6");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "nf", "1.1"]), "1.1");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "nf", "-1.1"]), "0");
    assert_eq!(q::<String>(&mut c, &["SET", "g", "5"]), "OK");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "g", "1e2"]), "105");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "g", "2.5e-1"]), "105.25");
    assert_eq!(q::<String>(&mut c, &["SET", "h", "1.10"]), "OK");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "h", "0"]), "1.1");
    assert_eq!(q_err(&mut c, &["INCRBYFLOAT", "f", "abc"]), "ERR value is not a valid float");
    assert_eq!(q_err(&mut c, &["INCRBYFLOAT", "f", "nan"]), "ERR value is not a valid float");
    assert_eq!(q_err(&mut c, &["INCRBYFLOAT", "f", "inf"]), "ERR increment would produce NaN or Infinity");
    assert_eq!(q::<String>(&mut c, &["SET", "s", "abc"]), "OK");
    assert_eq!(q_err(&mut c, &["INCRBYFLOAT", "s", "1"]), "ERR value is not a valid float");
    assert_eq!(q::<String>(&mut c, &["GET", "f"]), "10.6");
    // The float reply is a bulk string, not a RESP3 double.
    let v: Value = redis::cmd("INCRBYFLOAT").arg("f").arg("1").query(&mut c).expect("INCRBYFLOAT");
    assert_eq!(v, Value::BulkString(b"11.6".to_vec()));
}
