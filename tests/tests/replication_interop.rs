//! Replication between vigil-node and a real redis-server (Debian's 7.0), in both directions:
//! full sync of a populated master, the live stream, and a partial resync after the master
//! drops the link (`CLIENT KILL TYPE replica`). Data is compared by digest.

use std::time::Duration;

use redis::{Connection, Value};
use vigil_tests::{LogsOnPanic, Node, RedisServer, digest, info_field, info_int, link_up, populate, q, wait_until};

const SYNC: Duration = Duration::from_secs(30);

fn assert_same(master: &mut Connection, replica: &mut Connection) {
    let _ = wait_until(SYNC, || digest(master) == digest(replica));
    assert_eq!(digest(replica), digest(master), "replica differs from master");
}

/// Waits until the replica acknowledges everything the master streamed.
fn wait_offsets_equal(m: &mut Connection, r: &mut Connection) {
    let off = |c: &mut Connection, f| info_int(c, "replication", f);
    let ok = wait_until(SYNC, || off(m, "master_repl_offset") == off(r, "slave_repl_offset"));
    assert!(
        ok,
        "replica offset {} never reached the master's {}",
        off(r, "slave_repl_offset"),
        off(m, "master_repl_offset")
    );
}

/// Writes of every kind the stream must carry (including rewritten ones and a transaction),
/// ending on db 0.
fn write_mix(m: &mut Connection, tag: &str) {
    let k = |s: &str| format!("{tag}:{s}");
    q::<()>(m, &["SET", &k("s"), "hello"]);
    q::<i64>(m, &["APPEND", &k("s"), " world"]);
    q::<i64>(m, &["INCR", &k("n")]);
    q::<i64>(m, &["INCRBY", &k("n"), "41"]);
    q::<()>(m, &["SET", &k("ttl"), "x"]);
    q::<i64>(m, &["EXPIRE", &k("ttl"), "500"]);
    q::<()>(m, &["SET", &k("ex"), "v", "EX", "100"]);
    q::<()>(m, &["MSET", &k("m1"), "a", &k("m2"), "b"]);
    q::<i64>(m, &["DEL", &k("m2"), "key:1", "key:2"]);
    q::<()>(m, &["SET", &k("f"), "10.5"]);
    assert_eq!(q::<String>(m, &["INCRBYFLOAT", &k("f"), "0.1"]), "10.6");
    let exec: Value =
        redis::pipe().atomic().cmd("SET").arg(k("tx")).arg("1").cmd("INCR").arg(k("tx")).query(m).expect("EXEC");
    assert_eq!(exec, Value::Array(vec![Value::Okay, Value::Int(2)]));
    q::<()>(m, &["SELECT", "3"]);
    q::<()>(m, &["SET", &k("gone"), "1"]);
    q::<()>(m, &["FLUSHDB"]);
    q::<()>(m, &["SET", &k("kept"), "3"]);
    q::<()>(m, &["SELECT", "0"]);
}

/// The keys `write_mix(tag)` leaves, as digest entries.
fn check_mix(r: &mut Connection, tag: &str) {
    let d = digest(r);
    let get = |db: u8, key: &str| {
        let key = format!("{tag}:{key}").into_bytes();
        d.iter().find(|e| e.0 == db && e.1 == key).map(|e| (String::from_utf8_lossy(&e.2).into_owned(), e.3))
    };
    assert_eq!(get(0, "s"), Some(("hello world".into(), false)));
    assert_eq!(get(0, "n"), Some(("42".into(), false)));
    assert_eq!(get(0, "ttl"), Some(("x".into(), true)));
    assert_eq!(get(0, "ex"), Some(("v".into(), true)));
    assert_eq!(get(0, "m1"), Some(("a".into(), false)));
    assert_eq!(get(0, "m2"), None);
    assert_eq!(get(0, "f"), Some(("10.6".into(), false)));
    assert_eq!(get(0, "tx"), Some(("2".into(), false)));
    assert_eq!(get(3, "gone"), None);
    assert_eq!(get(3, "kept"), Some(("3".into(), false)));
    assert_eq!(d.iter().filter(|e| e.0 == 3).count(), 1, "FLUSHDB emptied db 3 first");
}

#[test]
fn redis_server_replicates_from_vigil() {
    let master = Node::start(&[]);
    let _logs = LogsOnPanic(vec![&master]);
    let mut m = master.conn();
    populate(&mut m);
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut r = replica.conn();

    // Full sync.
    assert!(wait_until(SYNC, || link_up(&mut r)), "redis-server's link never came up");
    assert_same(&mut m, &mut r);
    assert_eq!(digest(&mut r).len(), 5000);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
    assert_eq!(info_int(&mut m, "stats", "sync_partial_err"), 0, "a fresh redis replica asks PSYNC ? -1");
    assert_eq!(info_field(&mut m, "replication", "master_replid"), info_field(&mut r, "replication", "master_replid"));

    // The stream.
    write_mix(&mut m, "live");
    assert_same(&mut m, &mut r);
    check_mix(&mut r, "live");
    wait_offsets_equal(&mut m, &mut r);
    let ttl: i64 = q(&mut r, &["TTL", "live:ttl"]);
    assert!((490..=500).contains(&ttl), "EXPIRE carried as an absolute time, got {ttl}");

    // Partial resync after the master drops the link.
    assert_eq!(q::<i64>(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]), 1);
    write_mix(&mut m, "after-cut");
    assert!(wait_until(SYNC, || info_int(&mut m, "stats", "sync_partial_ok") == 1), "no partial resync");
    assert!(wait_until(SYNC, || link_up(&mut r)), "link up again");
    assert_same(&mut m, &mut r);
    check_mix(&mut r, "after-cut");
    wait_offsets_equal(&mut m, &mut r);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1, "no second full sync");
    assert_eq!(info_int(&mut m, "stats", "sync_partial_err"), 0);
    let role: Vec<Value> = q(&mut m, &["ROLE"]);
    assert_eq!(role[0], Value::BulkString(b"master".to_vec()));
    let Value::Array(replicas) = &role[2] else { panic!("ROLE replicas: {role:?}") };
    assert_eq!(replicas.len(), 1);
}

#[test]
fn vigil_replicates_from_redis_server() {
    let master = RedisServer::start(&[]);
    let mut m = master.conn();
    populate(&mut m);
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", master.port)]);
    let _logs = LogsOnPanic(vec![&replica]);
    let mut r = replica.conn();

    // Full sync (redis-server sends the diskless `$EOF:` form).
    assert!(wait_until(SYNC, || link_up(&mut r)), "vigil's link never came up");
    assert_same(&mut m, &mut r);
    assert_eq!(digest(&mut r).len(), 5000);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
    assert_eq!(info_field(&mut m, "replication", "master_replid"), info_field(&mut r, "replication", "master_replid"));
    assert_eq!(info_field(&mut m, "replication", "connected_slaves").as_deref(), Some("1"));

    // The stream.
    write_mix(&mut m, "live");
    assert_same(&mut m, &mut r);
    check_mix(&mut r, "live");
    wait_offsets_equal(&mut m, &mut r);
    let ttl: i64 = q(&mut r, &["TTL", "live:ttl"]);
    assert!((490..=500).contains(&ttl), "EXPIRE carried as an absolute time, got {ttl}");

    // Partial resync after the master drops the link.
    let partial_err = info_int(&mut m, "stats", "sync_partial_err");
    assert_eq!(q::<i64>(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]), 1);
    write_mix(&mut m, "after-cut");
    assert!(wait_until(SYNC, || info_int(&mut m, "stats", "sync_partial_ok") == 1), "no partial resync");
    assert!(wait_until(SYNC, || link_up(&mut r)), "link up again");
    assert_same(&mut m, &mut r);
    check_mix(&mut r, "after-cut");
    wait_offsets_equal(&mut m, &mut r);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1, "no second full sync");
    assert_eq!(info_int(&mut m, "stats", "sync_partial_err"), partial_err);
}
