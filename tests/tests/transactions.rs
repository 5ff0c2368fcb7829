//! MULTI/EXEC/DISCARD/WATCH with exact replies, optimistic locking across clients, and a
//! concurrent WATCH retry race that must not lose an increment.

use std::time::Duration;

use redis::Value;
use vigil_proto::Frame;
use vigil_tests::{Node, RawSync, q, wait_until};

fn queued() -> Frame {
    Frame::simple("QUEUED")
}

fn ok() -> Frame {
    Frame::simple("OK")
}

#[test]
fn multi_exec_runs_queued_commands_in_order() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.cmd(&["INCR", "a"]), queued());
    assert_eq!(c.cmd(&["GET", "a"]), queued());
    assert_eq!(c.cmd(&["GET", "missing"]), queued());
    // Nothing has run yet: another client does not see the key.
    let mut other = node.conn();
    assert_eq!(q::<Option<String>>(&mut other, &["GET", "a"]), None);
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![ok(), Frame::Integer(2), Frame::bulk("2"), Frame::NullBulk]));
    assert_eq!(q::<String>(&mut other, &["GET", "a"]), "2");
    // An empty transaction returns an empty array.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![]));
}

#[test]
fn discard_drops_the_queue() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.cmd(&["DISCARD"]), ok());
    assert_eq!(c.cmd(&["GET", "a"]), Frame::NullBulk);
    assert_eq!(c.err(&["DISCARD"]), "ERR DISCARD without MULTI");
    assert_eq!(c.err(&["EXEC"]), "ERR EXEC without MULTI");
}

#[test]
fn nesting_and_watch_inside_multi_are_refused() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.err(&["MULTI"]), "ERR MULTI calls can not be nested");
    assert_eq!(c.err(&["WATCH", "x"]), "ERR WATCH inside MULTI is not allowed");
    // Those errors do not abort the transaction.
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
}

#[test]
fn queue_time_errors_abort_exec() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.err(&["FOO"]), "ERR unknown command 'FOO', with args beginning with: ");
    assert_eq!(c.err(&["GET"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.err(&["EXEC"]), "EXECABORT Transaction discarded because of previous errors.");
    assert_eq!(c.cmd(&["GET", "a"]), Frame::NullBulk, "nothing ran");
    assert_eq!(c.err(&["EXEC"]), "ERR EXEC without MULTI", "the transaction is over");
    // Unknown subcommands are also caught at queue time.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.err(&["CONFIG", "FOO"]), "ERR unknown subcommand 'FOO'. Try CONFIG HELP.");
    assert_eq!(c.err(&["EXEC"]), "EXECABORT Transaction discarded because of previous errors.");
}

#[test]
fn runtime_errors_come_back_inside_the_exec_array() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "x"]), queued());
    assert_eq!(c.cmd(&["INCR", "a"]), queued());
    assert_eq!(c.cmd(&["SET", "b", "1", "EX", "0"]), queued());
    assert_eq!(c.cmd(&["GET", "a"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            Frame::error("ERR value is not an integer or out of range"),
            Frame::error("ERR invalid expire time in 'set' command"),
            Frame::bulk("x"),
        ])
    );
}

#[test]
fn watch_broken_by_another_clients_write() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    let mut other = node.conn();
    let _: () = q(&mut other, &["SET", "k", "1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    let _: () = q(&mut other, &["SET", "k", "2"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "mine"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
    assert_eq!(c.cmd(&["GET", "k"]), Frame::bulk("2"));
    // EXEC unwatches: the next transaction succeeds.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "mine"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
    // Creating a watched key that did not exist also counts as a change.
    assert_eq!(c.cmd(&["WATCH", "fresh"]), ok());
    let _: () = q(&mut other, &["SET", "fresh", "1"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["PING"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
    // RESP3 clients get a RESP3 null.
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    let _: () = q(&mut other, &["DEL", "k"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["PING"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
}

#[test]
fn watch_not_broken_by_other_keys_or_unwatch() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    let mut other = node.conn();
    let _: () = q(&mut other, &["SET", "k", "1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    let _: () = q(&mut other, &["SET", "unrelated", "2"]);
    let _: () = q(&mut other, &["SELECT", "1"]);
    let _: () = q(&mut other, &["SET", "k", "in another db"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["INCR", "k"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![Frame::Integer(2)]));
    // UNWATCH forgets the watched keys.
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    let _: () = q(&mut other, &["SELECT", "0"]);
    let _: () = q(&mut other, &["SET", "k", "9"]);
    assert_eq!(c.cmd(&["UNWATCH"]), ok());
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["INCR", "k"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![Frame::Integer(10)]));
    // DISCARD also unwatches.
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    let _: () = q(&mut other, &["SET", "k", "0"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["DISCARD"]), ok());
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["INCR", "k"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![Frame::Integer(1)]));
}

#[test]
fn watch_broken_by_expiry() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    let mut other = node.conn();
    assert_eq!(c.cmd(&["SET", "k", "1", "PX", "300"]), ok());
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    assert!(wait_until(Duration::from_secs(5), || q::<i64>(&mut other, &["EXISTS", "k"]) == 0));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "other", "1"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
    assert_eq!(c.cmd(&["EXISTS", "other"]), Frame::Integer(0));
}

#[test]
fn watch_broken_by_flushall() {
    let node = Node::start(&[]);
    let mut c = node.raw_sync();
    let mut other = node.conn();
    let _: () = q(&mut other, &["SET", "k", "1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    assert_eq!(q::<String>(&mut other, &["FLUSHALL"]), "OK");
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "2"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
    assert_eq!(c.cmd(&["EXISTS", "k"]), Frame::Integer(0));
}

/// One client's optimistic increment loop; returns how many times EXEC was aborted.
fn increment_with_retries(node_addr: String, times: usize) -> usize {
    let client = redis::Client::open(format!("redis://{node_addr}/")).expect("url");
    let mut c = client.get_connection().expect("connect");
    let mut aborted = 0;
    for _ in 0..times {
        loop {
            let _: () = q(&mut c, &["WATCH", "counter"]);
            let cur: Option<i64> = q(&mut c, &["GET", "counter"]);
            let _: () = q(&mut c, &["MULTI"]);
            let next = (cur.unwrap_or(0) + 1).to_string();
            assert_eq!(q::<String>(&mut c, &["SET", "counter", &next]), "QUEUED");
            match q::<Value>(&mut c, &["EXEC"]) {
                Value::Nil => aborted += 1,
                Value::Array(v) => {
                    assert_eq!(v, vec![Value::Okay]);
                    break;
                }
                other => panic!("EXEC: {other:?}"),
            }
        }
    }
    aborted
}

#[test]
fn concurrent_watch_retry_loops_lose_no_increment() {
    let node = Node::start(&[]);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let addr = node.addr();
            std::thread::spawn(move || increment_with_retries(addr, 200))
        })
        .collect();
    let aborted: usize = handles.into_iter().map(|h| h.join().expect("worker")).sum();
    let mut c = node.conn();
    assert_eq!(q::<i64>(&mut c, &["GET", "counter"]), 400, "({aborted} aborted EXECs were retried)");
}

#[test]
fn exec_after_multi_reset_by_reset() {
    let node = Node::start(&[]);
    let mut c: RawSync = node.raw_sync();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.cmd(&["RESET"]), Frame::simple("RESET"));
    assert_eq!(c.err(&["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(c.cmd(&["GET", "a"]), Frame::NullBulk);
}
