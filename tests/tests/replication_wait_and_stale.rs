//! WAIT blocks the calling client until replicas acknowledge its writes, or the timeout passes;
//! a replica told not to serve stale data answers MASTERDOWN while its link is down.

use std::time::{Duration, Instant};

use vigil_tests::{Node, link_up, q, q_err, wait_until};

#[test]
fn wait_counts_replicas_that_acknowledged_and_times_out_on_a_stopped_one() {
    let master = Node::start(&[]);
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", master.port)]);
    let mut m = master.conn();
    let mut r = replica.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r)));

    let _: () = q(&mut m, &["SET", "k", "1"]);
    let n: i64 = q(&mut m, &["WAIT", "1", "5000"]);
    assert_eq!(n, 1, "the live replica acknowledges at once (GETACK)");
    let v: String = q(&mut r, &["GET", "k"]);
    assert_eq!(v, "1", "acknowledged means applied on the replica");

    replica.signal("STOP");
    let _: () = q(&mut m, &["SET", "k", "2"]);
    let started = Instant::now();
    let n: i64 = q(&mut m, &["WAIT", "1", "300"]);
    let waited = started.elapsed();
    replica.signal("CONT");
    assert_eq!(n, 0, "the stopped replica cannot acknowledge");
    assert!(waited >= Duration::from_millis(300), "WAIT returned after {waited:?}, before its timeout");

    // Other clients are not blocked by a WAITing one.
    let mut other = master.conn();
    let pong: String = q(&mut other, &["PING"]);
    assert_eq!(pong, "PONG");

    let n: i64 = q(&mut m, &["WAIT", "1", "5000"]);
    assert_eq!(n, 1, "after SIGCONT the replica catches up and acknowledges");
    assert_eq!(
        q_err(&mut r, &["WAIT", "1", "0"]),
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is \
         configured to be writable (which is not the default) writes to replicas are just local and are not propagated."
    );
}

#[test]
fn wait_without_replicas_returns_zero_at_the_timeout() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    let _: () = q(&mut m, &["SET", "k", "1"]);
    let n: i64 = q(&mut m, &["WAIT", "0", "0"]);
    assert_eq!(n, 0);
    let started = Instant::now();
    let n: i64 = q(&mut m, &["WAIT", "1", "200"]);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_stale_replica_answers_masterdown_when_told_not_to_serve_stale_data() {
    // A master that never answers: the link stays down.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = nowhere.local_addr().expect("addr").port();
    drop(nowhere);
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {port}")]);
    let mut r = replica.conn();
    let _: () = q(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    let masterdown = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    assert_eq!(q_err(&mut r, &["GET", "k"]), masterdown);
    assert_eq!(q_err(&mut r, &["PING"]), masterdown, "PING too, as Redis (Sentinel counts it as alive)");
    let role: String = q(&mut r, &["INFO", "replication"]);
    assert!(role.contains("master_link_status:down"), "{role}");
    let _: () = q(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "yes"]);
    let v: Option<String> = q(&mut r, &["GET", "k"]);
    assert_eq!(v, None);
}
