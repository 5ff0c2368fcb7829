//! A replica can itself have replicas: the stream is proxied byte for byte under the top
//! master's replication id and offsets, and sub-replicas resume with partial resyncs.

use std::time::Duration;

use vigil_tests::{Node, digest, info_field, info_int, link_up, q, wait_until};

#[test]
fn a_sub_replica_follows_the_same_history_and_resumes_partially() {
    let top = Node::start(&[]);
    let mid = Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", top.port)]);
    let mut t = top.conn();
    let mut m = mid.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut m)));
    let leaf =
        Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", mid.port), "--set", "replica-announce-ip=10.1.2.3"]);
    let mut l = leaf.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut l)));
    let line = info_field(&mut m, "replication", "slave0").expect("the leaf is listed on the middle replica");
    assert!(line.starts_with("ip=10.1.2.3,"), "replica-announce-ip is reported: {line}");

    for i in 0..200 {
        let _: () = q(&mut t, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    let _: i64 = q(&mut t, &["INCR", "counter"]);
    assert!(wait_until(Duration::from_secs(10), || digest(&mut l) == digest(&mut t)));
    let top_id = info_field(&mut t, "replication", "master_replid");
    assert_eq!(info_field(&mut l, "replication", "master_replid"), top_id, "one history end to end");
    assert!(wait_until(Duration::from_secs(10), || info_int(&mut l, "replication", "master_repl_offset")
        == info_int(&mut t, "replication", "master_repl_offset")));

    // Cut the middle-to-leaf link: the leaf continues from the middle's backlog.
    let _: i64 = q(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    let _: () = q(&mut t, &["SET", "after-cut", "1"]);
    assert!(wait_until(Duration::from_secs(10), || digest(&mut l) == digest(&mut t)));
    assert_eq!(info_int(&mut m, "stats", "sync_partial_ok"), 1);
    assert_eq!(info_int(&mut m, "stats", "sync_full"), 1);
}
