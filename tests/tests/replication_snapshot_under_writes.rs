//! A full sync while clients keep writing: the snapshot is taken at one instant and serialised
//! shard by shard with copy on write, so every write is either in the snapshot or in the stream
//! after it, never both and never neither (an INCR counter would show either mistake).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vigil_tests::{Node, digest, link_up, q, wait_until};

#[test]
fn writes_during_a_full_sync_are_neither_lost_nor_applied_twice() {
    let master = Node::start(&[]);
    let mut m = master.conn();
    for chunk in 0..3 {
        let mut p = redis::pipe();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            p.cmd("SET").arg(format!("bulk:{i}")).arg(format!("v{i}")).ignore();
        }
        p.query::<()>(&mut m).expect("load");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut c = master.conn();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: i64 = q(&mut c, &["INCR", "counter"]);
                let _: () = q(&mut c, &["SET", &format!("bulk:{}", n % 30_000), &format!("rewritten-{n}")]);
                let _: i64 = q(&mut c, &["DEL", &format!("bulk:{}", (n * 7) % 30_000)]);
                n += 1;
            }
            n
        })
    };
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", master.port)]);
    let mut r = replica.conn();
    assert!(wait_until(Duration::from_secs(30), || link_up(&mut r)));
    // Keep writing a little after the sync, through the stream.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().expect("writer");
    assert!(rounds > 0);

    let counter: i64 = q(&mut m, &["GET", "counter"]);
    assert_eq!(counter as u64, rounds);
    assert!(wait_until(Duration::from_secs(20), || digest(&mut r) == digest(&mut m)), "replica diverged");
    let on_replica: String = q(&mut r, &["GET", "counter"]);
    assert_eq!(on_replica, counter.to_string());
}
