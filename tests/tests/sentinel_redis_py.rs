//! A real client library unchanged: redis-py's `Sentinel(...).master_for(...)` keeps writing
//! across a failover driven by vigil-sentinel.

use std::process::{Command, Stdio};
use std::time::Duration;

use vigil_tests::{Node, link_up, sentinel_dir, start_sentinel, wait_until};

#[test]
fn redis_py_sentinel_client_follows_the_failover() {
    let master = Node::start(&[]);
    let r1 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let r2 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r1.conn()) && link_up(&mut r2.conn())));
    let sentinel = start_sentinel(&sentinel_dir("py"), master.port, 1, &["--down-after-ms", "1000"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/sentinel_writer.py");
    let writer = Command::new("python3")
        .args([script, &sentinel.port.to_string(), "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with redis-py (scripts/test.sh installs it)");
    // Let the client write to the first master, then kill it.
    std::thread::sleep(Duration::from_secs(2)); // the workload runs for a while before the fault
    master.signal("KILL");
    let out = writer.wait_with_output().expect("writer finished");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "writer failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("a summary line");
    let words: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(words[0], "ok", "{last}");
    let gap = words[5];
    assert_ne!(gap, "None", "the client must write again after the failover: {last}");
    let new_port = last.rsplit(' ').next().and_then(|p| p.trim_end_matches(')').parse::<u16>().ok()).expect("port");
    assert!(new_port == r1.port || new_port == r2.port, "{last}");
    eprintln!("redis-py: {last}");
}
