//! CLIENT PAUSE holds commands back (writes only with WRITE), never refuses them; CLIENT
//! UNPAUSE releases them; while writes are paused nothing expires, so the replication offset
//! stands still: what a lossless manual failover needs.

use std::time::{Duration, Instant};

use vigil_tests::{Node, info_int, link_up, q, wait_until};

#[test]
fn pause_write_holds_writes_not_reads_until_the_timeout() {
    let node = Node::start(&[]);
    let mut admin = node.conn();
    let mut c = node.conn();
    let _: () = q(&mut c, &["SET", "k", "1"]);
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "400", "WRITE"]);
    let started = Instant::now();
    let v: String = q(&mut c, &["GET", "k"]);
    assert_eq!(v, "1");
    assert!(started.elapsed() < Duration::from_millis(300), "reads are not paused by WRITE");
    let _: () = q(&mut c, &["SET", "k", "2"]);
    assert!(started.elapsed() >= Duration::from_millis(390), "the write waited for the pause: {:?}", started.elapsed());
    let v: String = q(&mut c, &["GET", "k"]);
    assert_eq!(v, "2", "held back, then executed");
}

#[test]
fn unpause_releases_held_commands_at_once() {
    let node = Node::start(&[]);
    let mut admin = node.conn();
    // Connect first: under PAUSE ALL even a client library's connect-time commands are held.
    let mut c = node.conn();
    let mut probe = node.conn();
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "60000"]);
    let writer = {
        std::thread::spawn(move || {
            let started = Instant::now();
            let _: () = q(&mut c, &["SET", "k", "v"]);
            started.elapsed()
        })
    };
    // The writer is held until UNPAUSE (the probe would be held too under ALL, so it only
    // looks after unpausing).
    std::thread::sleep(Duration::from_millis(200)); // the fault: a pause that lasts a while
    let _: () = q(&mut admin, &["CLIENT", "UNPAUSE"]);
    let waited = writer.join().expect("writer");
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(30), "{waited:?}");
    let v: String = q(&mut probe, &["GET", "k"]);
    assert_eq!(v, "v");
}

#[test]
fn nothing_expires_and_the_offset_stands_still_while_writes_are_paused() {
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let mut m = master.conn();
    let mut r = replica.conn();
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r)));
    let _: () = q(&mut m, &["SET", "short", "x", "PX", "100"]);
    let _: () = q(&mut m, &["CLIENT", "PAUSE", "1500", "WRITE"]);
    let offset = info_int(&mut m, "replication", "master_repl_offset");
    // Well past the TTL: the key reads as gone, but no DEL is generated while paused.
    assert!(wait_until(Duration::from_secs(2), || q::<Option<String>>(&mut m, &["GET", "short"]).is_none()));
    std::thread::sleep(Duration::from_millis(300)); // give the active-expiry cycle a few ticks
    assert_eq!(info_int(&mut m, "replication", "master_repl_offset"), offset, "the stream did not move");
    let _: () = q(&mut m, &["CLIENT", "UNPAUSE"]);
    assert!(
        wait_until(Duration::from_secs(5), || info_int(&mut m, "replication", "master_repl_offset") > offset),
        "after the pause the expired key is deleted and replicated"
    );
}
