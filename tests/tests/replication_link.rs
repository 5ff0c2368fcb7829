//! The replication link itself: masterauth against a password-protected master (given with
//! --replicaof on the command line), and the master's pings keeping an idle link alive.

use std::time::Duration;

use vigil_tests::{Node, info_field, link_up, q, wait_until};

#[test]
fn masterauth_lets_the_replica_in_and_a_wrong_one_does_not() {
    let master = Node::start(&["--requirepass", "s3cret"]);
    let target = format!("127.0.0.1 {}", master.port);
    let good = Node::start(&["--replicaof", &target, "--set", "masterauth=s3cret"]);
    let bad = Node::start(&["--replicaof", &target, "--set", "masterauth=wrong"]);
    let mut g = good.conn();
    let mut b = bad.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut g)), "right password: link up");

    let mut m = master.conn();
    let _: () = q(&mut m, &["AUTH", "s3cret"]);
    let _: () = q(&mut m, &["SET", "k", "v"]);
    assert!(wait_until(Duration::from_secs(10), || q::<Option<String>>(&mut g, &["GET", "k"]).as_deref() == Some("v")));

    // The wrong password was really tried and refused (not merely not attempted yet).
    assert!(wait_until(Duration::from_secs(10), || bad
        .log
        .lock()
        .expect("log")
        .iter()
        .any(|l| l.contains("refused AUTH"))));
    assert_eq!(info_field(&mut b, "replication", "master_link_status").as_deref(), Some("down"));
    let connected: String = info_field(&mut m, "replication", "connected_slaves").expect("field");
    assert_eq!(connected, "1", "only the replica with the right password is attached");
}

#[test]
fn an_idle_master_pings_so_the_link_outlives_repl_timeout() {
    let master = Node::start(&["--set", "repl-ping-replica-period=1"]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port), "--set", "repl-timeout=2"]);
    let mut r = replica.conn();
    let mut m = master.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r)));
    let start = vigil_tests::info_int(&mut m, "replication", "master_repl_offset");
    // Four pings (14 bytes each) with no client write: longer than repl-timeout.
    assert!(wait_until(Duration::from_secs(15), || vigil_tests::info_int(&mut m, "replication", "master_repl_offset")
        >= start + 4 * 14));
    assert!(link_up(&mut r), "the replica kept the link");
    assert_eq!(vigil_tests::info_int(&mut m, "stats", "sync_partial_ok"), 0, "and never had to reconnect");
    assert!(wait_until(Duration::from_secs(5), || vigil_tests::info_int(&mut r, "replication", "master_repl_offset")
        == vigil_tests::info_int(&mut m, "replication", "master_repl_offset")));
}
