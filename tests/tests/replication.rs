//! Replication between two or three vigil-nodes: full sync, the live stream, expiry, partial
//! resync after a cut link, failover with PSYNC2, read-only replicas, ROLE and INFO, a master
//! that goes away, and a replica frozen with SIGSTOP.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use vigil_tests::{LogsOnPanic, Node, digest, info_field, info_int, link_up, populate, q, q_err, wait_until};

const SYNC: Duration = Duration::from_secs(20);

fn replica_of(m: &Node) -> Node {
    Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", m.port)])
}

/// Waits until `replica` holds exactly what `master` holds, then asserts it (for the diff).
fn assert_same(master: &mut Connection, replica: &mut Connection) {
    let _ = wait_until(SYNC, || digest(master) == digest(replica));
    assert_eq!(digest(replica), digest(master), "replica differs from master");
}

fn offset(c: &mut Connection) -> i64 {
    info_int(c, "replication", "master_repl_offset")
}

/// Waits until the replica has applied everything the master wrote.
fn wait_offsets_equal(m: &mut Connection, r: &mut Connection) {
    let ok = wait_until(SYNC, || offset(m) == info_int(r, "replication", "slave_repl_offset"));
    assert!(ok, "replica offset never reached the master's ({})", offset(m));
}

#[test]
fn full_sync_copies_a_populated_master() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    populate(&mut m);
    let expected = digest(&mut m);
    assert_eq!(expected.len(), 5000);
    assert_eq!(expected.iter().filter(|e| e.3).count(), 400);
    assert_eq!(expected.iter().filter(|e| e.0 == 7).count(), 1000);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)), "link never came up");
    assert_eq!(digest(&mut r), expected);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
    assert_eq!(info_int(&mut m, "stats", "sync_partial_ok"), 0);
    assert_eq!(info_int(&mut m, "stats", "sync_partial_err"), 0, "a fresh replica asks PSYNC ? -1, as Redis");
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 4000);
    let ttl: i64 = q(&mut r, &["TTL", "key:10"]);
    assert!((990..=1000).contains(&ttl), "TTL copied, got {ttl}");
}

#[test]
fn writes_after_the_sync_are_streamed() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    q::<()>(&mut m, &["SET", "before", "1"]);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));
    q::<()>(&mut m, &["SET", "s", "hello"]);
    q::<i64>(&mut m, &["INCR", "counter"]);
    q::<i64>(&mut m, &["INCR", "counter"]);
    q::<i64>(&mut m, &["APPEND", "s", " world"]);
    q::<()>(&mut m, &["SET", "ttl", "x"]);
    q::<i64>(&mut m, &["EXPIRE", "ttl", "500"]);
    q::<i64>(&mut m, &["DEL", "before"]);
    q::<()>(&mut m, &["MSET", "m1", "a", "m2", "b", "m3", "c"]);
    let exec: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx")
        .arg("1")
        .cmd("INCRBY")
        .arg("tx")
        .arg(41)
        .query(&mut m)
        .expect("EXEC");
    assert_eq!(exec, Value::Array(vec![Value::Okay, Value::Int(42)]));
    q::<()>(&mut m, &["SET", "ex", "v", "EX", "100"]);
    q::<()>(&mut m, &["SET", "f", "10.5"]);
    assert_eq!(q::<String>(&mut m, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    q::<()>(&mut m, &["SELECT", "3"]);
    q::<()>(&mut m, &["SET", "gone1", "1"]);
    q::<()>(&mut m, &["SET", "gone2", "2"]);
    q::<()>(&mut m, &["FLUSHDB"]);
    q::<()>(&mut m, &["SET", "kept", "3"]);
    q::<()>(&mut m, &["SELECT", "0"]);
    assert_same(&mut m, &mut r);
    let want: Vec<(u8, &str, &str, bool)> = vec![
        (0, "counter", "2", false),
        (0, "ex", "v", true),
        (0, "f", "10.6", false),
        (0, "m1", "a", false),
        (0, "m2", "b", false),
        (0, "m3", "c", false),
        (0, "s", "hello world", false),
        (0, "ttl", "x", true),
        (0, "tx", "42", false),
        (3, "kept", "3", false),
    ];
    let want: Vec<_> =
        want.into_iter().map(|(d, k, v, t)| (d, k.as_bytes().to_vec(), v.as_bytes().to_vec(), t)).collect();
    assert_eq!(digest(&mut r), want);
    let ttl: i64 = q(&mut r, &["TTL", "ttl"]);
    assert!((490..=500).contains(&ttl), "EXPIRE streamed as an absolute time, got {ttl}");
    wait_offsets_equal(&mut m, &mut r);
}

#[test]
fn expired_keys_are_deleted_on_the_replica_by_the_masters_del() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));

    // Active expiry on the master: its DEL reaches the replica, which then holds nothing.
    q::<()>(&mut m, &["SET", "short", "v", "PX", "200"]);
    q::<()>(&mut m, &["SET", "long", "v"]);
    assert!(wait_until(SYNC, || q::<i64>(&mut r, &["DBSIZE"]) == 2));
    assert!(wait_until(SYNC, || q::<i64>(&mut m, &["DBSIZE"]) == 1), "master's active expiry");
    assert!(wait_until(SYNC, || q::<i64>(&mut r, &["DBSIZE"]) == 1), "the DEL reached the replica");
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "short"]), None);
    assert!(info_int(&mut m, "stats", "expired_keys") >= 1);

    // With the master frozen no DEL can come: the replica hides the expired key from reads
    // but still stores it.
    q::<()>(&mut m, &["SET", "frozen", "v", "PX", "1500"]);
    assert!(wait_until(SYNC, || q::<Option<String>>(&mut r, &["GET", "frozen"]).is_some()));
    master.signal("STOP");
    let hidden = wait_until(Duration::from_secs(5), || q::<Option<String>>(&mut r, &["GET", "frozen"]).is_none());
    let stored: i64 = q(&mut r, &["DBSIZE"]);
    let exists: i64 = q(&mut r, &["EXISTS", "frozen"]);
    let pttl: i64 = q(&mut r, &["PTTL", "frozen"]);
    master.signal("CONT");
    assert!(hidden, "a logically expired key reads as nil on the replica");
    assert_eq!(stored, 2, "the replica does not delete on its own");
    assert_eq!(exists, 0);
    assert_eq!(pttl, -2);
    assert!(wait_until(SYNC, || q::<i64>(&mut r, &["DBSIZE"]) == 1), "the master's DEL arrives after CONT");
    assert_same(&mut m, &mut r);
}

#[test]
fn a_cut_link_resumes_with_a_partial_resync() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    populate(&mut m);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
    let partial_err = info_int(&mut m, "stats", "sync_partial_err");

    // Cut from the master's side.
    assert_eq!(q::<i64>(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]), 1);
    for i in 0..100 {
        q::<()>(&mut m, &["SET", &format!("after-cut:{i}"), &i.to_string()]);
    }
    assert!(wait_until(SYNC, || info_int(&mut m, "stats", "sync_partial_ok") == 1), "partial resync");
    assert_same(&mut m, &mut r);
    assert!(link_up(&mut r));
    wait_offsets_equal(&mut m, &mut r);

    // Cut from the replica's side.
    assert_eq!(q::<i64>(&mut r, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    q::<()>(&mut m, &["MSET", "x", "1", "y", "2"]);
    q::<i64>(&mut m, &["DEL", "key:5"]);
    assert!(wait_until(SYNC, || info_int(&mut m, "stats", "sync_partial_ok") == 2), "second partial resync");
    assert_same(&mut m, &mut r);
    wait_offsets_equal(&mut m, &mut r);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1, "no second full sync");
    assert_eq!(info_int(&mut m, "stats", "sync_partial_err"), partial_err, "no refused PSYNC");
}

#[test]
fn failover_continues_every_history_with_partial_resyncs() {
    let m_node = Node::start(&[]);
    let mut m = m_node.conn();
    populate(&mut m);
    let r1_node = replica_of(&m_node);
    let r2_node = replica_of(&m_node);
    let _logs = LogsOnPanic(vec![&m_node, &r1_node, &r2_node]);
    let (mut r1, mut r2) = (r1_node.conn(), r2_node.conn());
    q::<()>(&mut m, &["SET", "pre-failover", "1"]);
    assert_same(&mut m, &mut r1);
    assert_same(&mut m, &mut r2);
    wait_offsets_equal(&mut m, &mut r1);
    wait_offsets_equal(&mut m, &mut r2);
    let old_id = info_field(&mut m, "replication", "master_replid").expect("replid");
    let old_offset = offset(&mut m);

    assert_eq!(q::<Value>(&mut r1, &["REPLICAOF", "NO", "ONE"]), Value::Okay);
    let r1_port = r1_node.port.to_string();
    assert_eq!(q::<Value>(&mut r2, &["REPLICAOF", "127.0.0.1", &r1_port]), Value::Okay);
    assert_eq!(q::<Value>(&mut m, &["REPLICAOF", "127.0.0.1", &r1_port]), Value::Okay);
    q::<()>(&mut r1, &["SET", "post-failover", "2"]);
    q::<i64>(&mut r1, &["INCR", "counter"]);
    assert_same(&mut r1, &mut r2);
    assert_same(&mut r1, &mut m);
    assert!(digest(&mut r1).iter().any(|e| e.1 == b"post-failover"));
    wait_offsets_equal(&mut r1, &mut r2);
    wait_offsets_equal(&mut r1, &mut m);

    assert_eq!(info_int(&mut r1, "stats", "sync_full"), 0);
    assert_eq!(info_int(&mut r1, "stats", "sync_partial_ok"), 2);
    assert_eq!(info_field(&mut r1, "replication", "role").as_deref(), Some("master"));
    assert_eq!(info_field(&mut r1, "replication", "master_replid2"), Some(old_id.clone()));
    assert_eq!(info_int(&mut r1, "replication", "second_repl_offset"), old_offset + 1);
    assert_eq!(info_int(&mut r1, "replication", "connected_slaves"), 2);
    let new_id = info_field(&mut r1, "replication", "master_replid").expect("replid");
    assert_ne!(new_id, old_id);
    // The old master and R2 adopted the new history, keeping the old one as replid2.
    for c in [&mut m, &mut r2] {
        assert_eq!(info_field(c, "replication", "role").as_deref(), Some("slave"));
        assert_eq!(info_field(c, "replication", "master_replid"), Some(new_id.clone()));
        assert_eq!(info_field(c, "replication", "master_replid2"), Some(old_id.clone()));
    }
}

#[test]
fn replicas_are_read_only_and_replicaof_replies() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    q::<()>(&mut m, &["SET", "k", "v"]);
    let replica = Node::start(&[]);
    let mut r = replica.conn();
    let port = master.port.to_string();
    assert_eq!(q::<Value>(&mut r, &["REPLICAOF", "127.0.0.1", &port]), Value::Okay);
    assert_eq!(
        q::<Value>(&mut r, &["REPLICAOF", "127.0.0.1", &port]),
        Value::SimpleString("OK Already connected to specified master".into())
    );
    assert_eq!(
        q::<Value>(&mut r, &["SLAVEOF", "127.0.0.1", &port]),
        Value::SimpleString("OK Already connected to specified master".into())
    );
    assert_eq!(q_err(&mut r, &["REPLICAOF", "127.0.0.1", "70000"]), "ERR Invalid master port");
    assert!(wait_until(SYNC, || link_up(&mut r)));
    assert!(wait_until(SYNC, || q::<Option<String>>(&mut r, &["GET", "k"]).as_deref() == Some("v")));
    const READONLY: &str = "READONLY You can't write against a read only replica.";
    assert_eq!(q_err(&mut r, &["SET", "k", "w"]), READONLY);
    assert_eq!(q_err(&mut r, &["DEL", "k"]), READONLY);
    assert_eq!(q_err(&mut r, &["INCR", "n"]), READONLY);
    assert_eq!(q_err(&mut r, &["FLUSHALL"]), READONLY);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v", "reads work");
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "k"]), 1);
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), 1);
    // REPLICAOF NO ONE makes it writable, keeping the data.
    assert_eq!(q::<Value>(&mut r, &["REPLICAOF", "NO", "ONE"]), Value::Okay);
    assert_eq!(q::<Value>(&mut r, &["SET", "k", "w"]), Value::Okay);
    assert_eq!(q::<Value>(&mut r, &["REPLICAOF", "NO", "ONE"]), Value::Okay, "already a master: still OK");
}

#[test]
fn role_and_info_replication_on_both_ends() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    q::<()>(&mut m, &["SET", "k", "v"]);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));
    q::<()>(&mut m, &["SET", "k2", "v2"]);
    wait_offsets_equal(&mut m, &mut r);
    let off = offset(&mut m);
    assert!(off > 0);
    let (rport, mport) = (replica.port.to_string(), master.port as i64);

    // The master lists the replica once its ACK has caught up (ACKs come every second).
    let want = Value::Array(vec![
        Value::BulkString(b"master".to_vec()),
        Value::Int(off),
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"127.0.0.1".to_vec()),
            Value::BulkString(rport.clone().into_bytes()),
            Value::BulkString(off.to_string().into_bytes()),
        ])]),
    ]);
    let _ = wait_until(SYNC, || q::<Value>(&mut m, &["ROLE"]) == want);
    assert_eq!(q::<Value>(&mut m, &["ROLE"]), want);
    assert_eq!(
        q::<Value>(&mut r, &["ROLE"]),
        Value::Array(vec![
            Value::BulkString(b"slave".to_vec()),
            Value::BulkString(b"127.0.0.1".to_vec()),
            Value::Int(mport),
            Value::BulkString(b"connected".to_vec()),
            Value::Int(off),
        ])
    );

    let f = |c: &mut Connection, name: &str| info_field(c, "replication", name);
    assert_eq!(f(&mut m, "role").as_deref(), Some("master"));
    assert_eq!(f(&mut m, "connected_slaves").as_deref(), Some("1"));
    let slave0 = f(&mut m, "slave0").expect("slave0");
    let prefix = format!("ip=127.0.0.1,port={rport},state=online,offset={off},lag=");
    assert!(slave0.starts_with(&prefix), "slave0:{slave0}");
    let lag: i64 = slave0[prefix.len()..].parse().expect("lag");
    assert!((0..=2).contains(&lag), "lag {lag}");
    let id = f(&mut m, "master_replid").expect("replid");
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    assert_eq!(f(&mut m, "master_replid2").as_deref(), Some("0000000000000000000000000000000000000000"));
    assert_eq!(f(&mut m, "second_repl_offset").as_deref(), Some("-1"));
    assert_eq!(f(&mut m, "repl_backlog_active").as_deref(), Some("1"));
    let first = info_int(&mut m, "replication", "repl_backlog_first_byte_offset");
    let histlen = info_int(&mut m, "replication", "repl_backlog_histlen");
    assert_eq!(first + histlen - 1, off, "backlog invariant");

    assert_eq!(f(&mut r, "role").as_deref(), Some("slave"));
    assert_eq!(f(&mut r, "master_host").as_deref(), Some("127.0.0.1"));
    assert_eq!(f(&mut r, "master_port"), Some(mport.to_string()));
    assert_eq!(f(&mut r, "master_link_status").as_deref(), Some("up"));
    assert_eq!(f(&mut r, "master_sync_in_progress").as_deref(), Some("0"));
    assert_eq!(f(&mut r, "slave_repl_offset"), Some(off.to_string()));
    assert_eq!(f(&mut r, "slave_read_repl_offset"), Some(off.to_string()));
    assert_eq!(f(&mut r, "master_repl_offset"), Some(off.to_string()));
    assert_eq!(f(&mut r, "master_replid"), Some(id));
    assert_eq!(f(&mut r, "slave_read_only").as_deref(), Some("1"));
    assert_eq!(f(&mut r, "connected_slaves").as_deref(), Some("0"));
    assert_eq!(f(&mut r, "master_link_down_since_seconds"), None, "only while down");
}

#[test]
fn a_replica_of_a_dead_master_reports_the_link_down_and_recovers() {
    let master = Node::start(&[]);
    let port = master.port;
    let mut m = master.conn();
    q::<()>(&mut m, &["SET", "old", "1"]);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));
    assert!(wait_until(SYNC, || q::<i64>(&mut r, &["DBSIZE"]) == 1));
    drop(m);
    drop(master);

    assert!(wait_until(SYNC, || !link_up(&mut r)), "link goes down");
    assert_eq!(info_field(&mut r, "replication", "master_link_status").as_deref(), Some("down"));
    let since = info_int(&mut r, "replication", "master_link_down_since_seconds");
    assert!((0..=5).contains(&since), "master_link_down_since_seconds:{since}");
    let role: Vec<Value> = q(&mut r, &["ROLE"]);
    assert_eq!(role[0], Value::BulkString(b"slave".to_vec()));
    assert!(
        [&b"connect"[..], b"connecting"].iter().any(|s| role[3] == Value::BulkString(s.to_vec())),
        "ROLE state {:?}",
        role[3]
    );
    assert_eq!(role[4], Value::Int(-1));
    assert_eq!(q::<String>(&mut r, &["GET", "old"]), "1", "stale data is served");

    // A new master (new history) on the same port: the replica full-syncs from it.
    let mut cmd = Command::new(vigil_tests::bin("vigil-node"));
    cmd.args(["--port", &port.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let master = Node::spawn(cmd);
    assert_eq!(master.port, port);
    let mut m = master.conn();
    q::<()>(&mut m, &["SET", "new", "2"]);
    assert!(wait_until(SYNC, || link_up(&mut r)), "link comes back");
    assert_same(&mut m, &mut r);
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "old"]), None, "old data replaced by the full sync");
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
}

#[test]
fn a_stopped_replica_catches_up_after_sigcont() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    populate(&mut m);
    let replica = replica_of(&master);
    let _logs = LogsOnPanic(vec![&master, &replica]);
    let mut r = replica.conn();
    assert!(wait_until(SYNC, || link_up(&mut r)));
    assert_same(&mut m, &mut r);

    replica.signal("STOP");
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        let mut p = redis::pipe();
        for _ in 0..50 {
            p.cmd("SET").arg(format!("while-stopped:{i}")).arg(i).ignore();
            p.cmd("INCR").arg("count").ignore();
            i += 1;
        }
        p.query::<()>(&mut m).expect("writes while the replica is stopped");
    }
    replica.signal("CONT");
    assert!(i >= 50);
    assert_same(&mut m, &mut r);
    assert_eq!(q::<u64>(&mut r, &["GET", "count"]), i);
    wait_offsets_equal(&mut m, &mut r);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1, "the link survived the stop");
    assert_eq!(info_int(&mut m, "stats", "sync_partial_ok"), 0);
}
