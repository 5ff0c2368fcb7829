//! `SENTINEL FAILOVER` with the master up loses no acknowledged write: writes are paused on the
//! old master (CLIENT PAUSE WRITE), the chosen replica catches up to its offset, and only then is
//! it promoted. Redis Sentinel's manual failover loses about 2,200 acknowledged writes at 200
//! writes/s on the project's machine (../shared/reference/redis-measured.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use vigil_tests::{Node, link_up, q, sentinel_dir, sentinel_replicas, start_sentinel, wait_until};

#[test]
fn a_manual_failover_under_a_concurrent_writer_loses_no_acknowledged_write() {
    let master = Node::start(&[]);
    let r1 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let r2 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r1.conn()) && link_up(&mut r2.conn())));
    let s = start_sentinel(&sentinel_dir("manual"), master.port, 1, &["--failover-timeout-ms", "30000"]);
    let _logs = vigil_tests::LogsOnPanic(vec![&s]);
    let mut sc = s.conn();
    assert!(wait_until(Duration::from_secs(15), || sentinel_replicas(&s) == 2));

    // A writer on the old master, counting every INCR the server acknowledged.
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        let mut c = master.conn();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match redis::cmd("INCR").arg("counter").query::<i64>(&mut c) {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => return, // READONLY or the connection closed: the old master is out
                }
            }
        })
    };
    assert!(wait_until(Duration::from_secs(5), || acked.load(Ordering::Relaxed) >= 200));

    let ok: String = q(&mut sc, &["SENTINEL", "FAILOVER", "mymaster"]);
    assert_eq!(ok, "OK");
    let moved = |sc: &mut redis::Connection| {
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("mymaster")
            .query::<(String, String)>(sc)
            .is_ok_and(|(_, p)| p != master.port.to_string())
    };
    assert!(wait_until(Duration::from_secs(20), || moved(&mut sc)), "the failover did not complete");
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let (_, port): (String, String) = q(&mut sc, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    let new = if port == r1.port.to_string() { &r1 } else { &r2 };
    let counter: i64 = q(&mut new.conn(), &["GET", "counter"]);
    let acked = acked.load(Ordering::Relaxed);
    eprintln!("acknowledged {acked}, on the new master {counter}");
    assert!(counter as u64 >= acked, "lost {} acknowledged writes", acked - counter as u64);
    // The old master now follows the new one.
    assert!(wait_until(Duration::from_secs(10), || {
        let Ok(mut o) = master.redis().get_connection() else { return false };
        redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut o)
            .is_ok_and(|t| t.contains(&format!("master_port:{port}\r\n")))
    }));
}
