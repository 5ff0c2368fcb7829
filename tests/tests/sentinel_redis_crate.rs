//! The `redis` crate's own sentinel client, unchanged, finds the master through vigil-sentinel
//! (it reads `SENTINEL MASTERS`) and keeps writing to the new master after a failover.

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelServerType};
use vigil_tests::{LogsOnPanic, Node, link_up, sentinel_dir, sentinel_replicas, start_sentinel, wait_until};

#[test]
fn the_redis_crates_sentinel_client_follows_the_failover() {
    let dir = sentinel_dir("redis-crate");
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut replica.conn())));
    let s = start_sentinel(&dir, master.port, 1, &["--down-after-ms", "1000"]);
    let _logs = LogsOnPanic(vec![&s]);
    assert!(wait_until(Duration::from_secs(10), || sentinel_replicas(&s) == 1));

    let mut client = SentinelClient::build(
        vec![format!("redis://127.0.0.1:{}", s.port)],
        "mymaster".to_string(),
        None,
        SentinelServerType::Master,
    )
    .expect("sentinel client");
    let mut c = client.get_connection().expect("master through the sentinel");
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut c).expect("write to the first master");

    master.signal("KILL");
    // Reconnect through the sentinel until a write succeeds: it must land on the promoted replica.
    let mut n = 0;
    let wrote = wait_until(Duration::from_secs(30), || {
        n += 1;
        client.get_connection().and_then(|mut c| redis::cmd("SET").arg("after").arg(n).query::<()>(&mut c)).is_ok()
    });
    assert!(wrote, "no write succeeded through the sentinel client after the failover");
    let on_new: Option<i64> = redis::cmd("GET").arg("after").query(&mut replica.conn()).expect("get");
    assert_eq!(on_new, Some(n), "the write went to the promoted replica");
    let _ = std::fs::remove_dir_all(&dir);
}
