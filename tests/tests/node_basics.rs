//! The node starts, answers real clients, and shuts down cleanly.

use std::time::Duration;

use vigil_tests::{Node, redis_cli};

#[test]
fn redis_crate_set_get_round_trip() {
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).expect("SET");
    let v: String = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(v, "v");
}

#[test]
fn redis_cli_ping_and_unknown_command() {
    let node = Node::start(&[]);
    assert_eq!(redis_cli(&node, &["PING"]).trim(), "PONG");
    assert_eq!(redis_cli(&node, &["FOO", "a"]).trim(), "ERR unknown command 'FOO', with args beginning with: 'a'");
}

#[test]
fn shutdown_command_exits_cleanly() {
    let mut node = Node::start(&[]);
    let mut c = node.conn();
    let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn sigterm_exits_cleanly_with_open_connections() {
    let mut node = Node::start(&[]);
    let _held: Vec<_> = (0..20).map(|_| node.conn()).collect();
    node.signal("TERM");
    assert_eq!(node.wait_exit(Duration::from_secs(10)), Some(0));
}
