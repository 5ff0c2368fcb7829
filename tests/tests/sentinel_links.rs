//! The sentinel's two links to each instance, as Redis Sentinel opens them: a command link and a
//! pub/sub link, named `sentinel-<id>-cmd` / `sentinel-<id>-pubsub`, and hellos published on
//! `__sentinel__:hello` with Redis's payload — on vigil-node and on Debian's redis-server alike.

use std::time::Duration;

use vigil_tests::{LogsOnPanic, Node, RedisServer, sentinel_dir, start_sentinel, wait_until};

/// Waits for one hello on `__sentinel__:hello` of the instance at `port`.
fn next_hello(port: u16) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
    let mut conn = client.get_connection().expect("connect");
    let mut ps = conn.as_pubsub();
    ps.subscribe("__sentinel__:hello").expect("subscribe");
    ps.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let msg = ps.get_message().expect("a hello within 10 s (one is published every 2 s)");
    msg.get_payload().expect("text payload")
}

fn client_names(port: u16) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
    redis::cmd("CLIENT").arg("LIST").query(&mut client.get_connection().expect("connect")).expect("client list")
}

fn check(master_port: u16, tag: &str) {
    let dir = sentinel_dir(tag);
    let s = start_sentinel(&dir, master_port, 1, &["--down-after-ms", "5000"]);
    let _logs = LogsOnPanic(vec![&s]);
    let myid: String = redis::cmd("SENTINEL").arg("MYID").query(&mut s.conn()).expect("myid");

    let hello = next_hello(master_port);
    assert_eq!(
        hello,
        format!("127.0.0.1,{},{myid},0,mymaster,127.0.0.1,{master_port},0", s.port),
        "Redis's hello format"
    );

    let short = &myid[..8];
    assert!(
        wait_until(Duration::from_secs(5), || {
            let list = client_names(master_port);
            list.contains(&format!("name=sentinel-{short}-cmd "))
                && list.lines().any(|l| l.contains(&format!("name=sentinel-{short}-pubsub ")) && l.contains(" sub=1 "))
        }),
        "command and pub/sub links: {}",
        client_names(master_port)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_vigil_node_gets_both_links_and_the_hellos() {
    let master = Node::start(&[]);
    check(master.port, "links-vigil");
}

#[test]
fn a_redis_server_gets_both_links_and_the_hellos() {
    let master = RedisServer::start(&[]);
    check(master.port, "links-redis");
}

#[test]
fn hellos_carry_the_announced_address() {
    let master = Node::start(&[]);
    let dir = sentinel_dir("links-announce");
    let s = start_sentinel(&dir, master.port, 1, &["--announce-ip", "10.1.2.3", "--announce-port", "4444"]);
    let _logs = LogsOnPanic(vec![&s]);
    let hello = next_hello(master.port);
    assert!(hello.starts_with("10.1.2.3,4444,"), "{hello}");
    let _ = std::fs::remove_dir_all(&dir);
}
