//! One sentinel (quorum 1, down-after 1000 ms) guarding a vigil-node master and two replicas:
//! `kill -9` of the master gives exactly one failover, a subscribed client sees one
//! `+switch-master`, GET-MASTER-ADDR-BY-NAME answers the new master, and the other replica
//! follows it with a partial resync, and the old master, restarted, becomes a replica.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_proto::Frame;

const SENTINEL_ARGS: &[&str] = &["--down-after-ms", "1000", "--failover-timeout-ms", "30000"];
use vigil_tests::{
    Node, info_field, info_int, link_up, q, sentinel_dir, sentinel_master_addr, sentinel_replicas, start_sentinel,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_fails_over_once_to_a_replica() {
    let master = Node::start(&[]);
    let r1 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let r2 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let mut m = master.conn();
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut c1) && link_up(&mut c2)));
    let _: () = q(&mut m, &["SET", "before-failover", "1"]);
    // Replication is asynchronous: make sure both replicas have the write before the failover.
    let acked: i64 = q(&mut m, &["WAIT", "2", "10000"]);
    assert_eq!(acked, 2);

    let s = start_sentinel(&sentinel_dir(&format!("failover-{}", master.port)), master.port, 1, SENTINEL_ARGS);
    assert_eq!(sentinel_master_addr(&s), Some(("127.0.0.1".into(), master.port.to_string())));
    // The sentinel discovers both replicas from the master's INFO.
    assert!(wait_until(Duration::from_secs(15), || sentinel_replicas(&s) == 2));

    let mut sub = s.raw().await;
    sub.set_timeout(Some(Duration::from_secs(30)));
    sub.cmd(&["SUBSCRIBE", "+switch-master"]).await.expect("subscribe");

    let killed_at = Instant::now();
    master.signal("KILL");
    let msg = sub.next_push().await.expect("+switch-master within 30 s");
    let elapsed = killed_at.elapsed();
    let Frame::Array(parts) = msg else { panic!("not a message") };
    let payload = String::from_utf8_lossy(parts[2].as_bytes().expect("payload")).into_owned();
    let words: Vec<&str> = payload.split(' ').collect();
    assert_eq!(&words[..3], &["mymaster", "127.0.0.1", &master.port.to_string()[..]], "{payload}");
    let new_port: u16 = words[4].parse().expect("port");
    assert!(new_port == r1.port || new_port == r2.port, "{payload}");
    eprintln!("kill -9 to +switch-master: {elapsed:?}");

    assert_eq!(sentinel_master_addr(&s), Some(("127.0.0.1".into(), new_port.to_string())));
    let (new, other) = if new_port == r1.port { (&r1, &r2) } else { (&r2, &r1) };
    let mut n = new.conn();
    let mut o = other.conn();
    assert_eq!(info_field(&mut n, "replication", "role").as_deref(), Some("master"));
    assert!(wait_until(Duration::from_secs(10), || {
        info_field(&mut o, "replication", "master_port").as_deref() == Some(&new_port.to_string()[..])
            && link_up(&mut o)
    }));
    assert_eq!(info_int(&mut n, "stats", "sync_full"), 0, "the other replica continued with a partial resync");
    let _: () = q(&mut n, &["SET", "after-failover", "2"]);
    assert!(wait_until(Duration::from_secs(10), || q::<Option<String>>(&mut o, &["GET", "after-failover"]).is_some()));
    let kept: String = q(&mut o, &["GET", "before-failover"]);
    assert_eq!(kept, "1");

    // The old master comes back on its address: the sentinel turns it into a replica.
    let old_port = master.port;
    drop(m);
    drop(master);
    let back = {
        let mut cmd = Command::new(vigil_tests::bin("vigil-node"));
        cmd.args(["--port", &old_port.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped());
        Node::spawn(cmd)
    };
    // A fresh connection per look: the reconfiguration kills normal clients (CLIENT KILL TYPE
    // normal), as Redis Sentinel's does.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let Ok(mut b) = back.redis().get_connection() else { return false };
            let Ok(text) = redis::cmd("INFO").arg("replication").query::<String>(&mut b) else { return false };
            text.contains(&format!("master_port:{new_port}\r\n")) && text.contains("master_link_status:up")
        }),
        "the returning old master must become a replica of the new one"
    );
    let mut b = back.conn();
    let v: Option<String> = q(&mut b, &["GET", "after-failover"]);
    assert_eq!(v.as_deref(), Some("2"));

    // Exactly one failover: no second +switch-master meanwhile or in the next seconds.
    sub.set_timeout(Some(Duration::from_secs(3)));
    assert!(sub.next_push().await.is_err(), "a second failover happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_failover_with_redis_server_data_nodes() {
    use vigil_tests::RedisServer;
    let master = RedisServer::start(&[]);
    let r1 = RedisServer::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let r2 = RedisServer::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut m = master.conn();
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    assert!(wait_until(Duration::from_secs(15), || link_up(&mut c1) && link_up(&mut c2)));
    let _: () = q(&mut m, &["SET", "before-failover", "1"]);
    // Replication is asynchronous: make sure both replicas have the write before the failover.
    let acked: i64 = q(&mut m, &["WAIT", "2", "10000"]);
    assert_eq!(acked, 2);

    let s = start_sentinel(&sentinel_dir(&format!("failover-{}", master.port)), master.port, 1, SENTINEL_ARGS);
    assert!(wait_until(Duration::from_secs(15), || sentinel_replicas(&s) == 2));
    let mut sub = s.raw().await;
    sub.set_timeout(Some(Duration::from_secs(30)));
    sub.cmd(&["SUBSCRIBE", "+switch-master"]).await.expect("subscribe");

    let _logs = vigil_tests::LogsOnPanic(vec![&s]);
    let old_port = master.port;
    drop(m);
    drop(master); // SIGKILL
    let msg = sub.next_push().await.expect("+switch-master within 30 s");
    let Frame::Array(parts) = msg else { panic!("not a message") };
    let payload = String::from_utf8_lossy(parts[2].as_bytes().expect("payload")).into_owned();
    let new_port: u16 = payload.split(' ').nth(4).and_then(|p| p.parse().ok()).expect("port");
    assert!(payload.starts_with(&format!("mymaster 127.0.0.1 {old_port} 127.0.0.1 ")), "{payload}");
    assert!(new_port == r1.port || new_port == r2.port);
    assert_eq!(sentinel_master_addr(&s), Some(("127.0.0.1".into(), new_port.to_string())));
    let (new, other) = if new_port == r1.port { (&r1, &r2) } else { (&r2, &r1) };
    let mut n = new.conn();
    assert_eq!(info_field(&mut n, "replication", "role").as_deref(), Some("master"));
    assert!(wait_until(Duration::from_secs(15), || {
        let Ok(mut o) = other.redis().get_connection() else { return false };
        let Ok(text) = redis::cmd("INFO").arg("replication").query::<String>(&mut o) else { return false };
        text.contains(&format!("master_port:{new_port}\r\n")) && text.contains("master_link_status:up")
    }));
    let mut o = other.conn();
    let kept: String = q(&mut o, &["GET", "before-failover"]);
    assert_eq!(kept, "1");
}
