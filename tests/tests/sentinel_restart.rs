//! A restarted sentinel keeps its id and its view: after a failover, the same command line
//! (which still names the old master) resumes with the new master from the state file.

use std::process::{Command, Stdio};
use std::time::Duration;

use vigil_tests::{Node, link_up, wait_until};

fn sentinel(dir: &std::path::Path, master_port: u16) -> Node {
    let mut cmd = Command::new(vigil_tests::bin("vigil-sentinel"));
    cmd.args(["--port", "0", "--dir", dir.to_str().expect("utf8")])
        .args(["--monitor", "mymaster", "127.0.0.1", &master_port.to_string(), "1", "--down-after-ms", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Node::spawn(cmd)
}

fn addr(s: &Node) -> Option<(String, String)> {
    redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg("mymaster").query(&mut s.conn()).ok()
}

#[test]
fn a_restarted_sentinel_resumes_with_its_id_and_the_new_master() {
    let dir = std::env::temp_dir().join(format!("vigil-sentinel-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut replica.conn())));
    let old_port = master.port;

    let first = sentinel(&dir, old_port);
    let id: String = redis::cmd("SENTINEL").arg("MYID").query(&mut first.conn()).expect("myid");
    assert!(wait_until(Duration::from_secs(10), || {
        redis::cmd("SENTINEL")
            .arg("REPLICAS")
            .arg("mymaster")
            .query::<Vec<redis::Value>>(&mut first.conn())
            .map_or(0, |v| v.len())
            == 1
    }));
    master.signal("KILL");
    let promoted = Some(("127.0.0.1".to_string(), replica.port.to_string()));
    assert!(wait_until(Duration::from_secs(20), || addr(&first) == promoted), "failover did not happen");
    drop(first);

    let second = sentinel(&dir, old_port);
    let again: String = redis::cmd("SENTINEL").arg("MYID").query(&mut second.conn()).expect("myid");
    assert_eq!(again, id, "same identity after a restart");
    assert_eq!(addr(&second), promoted, "the view survives the restart, not the command line's old master");
    let _ = std::fs::remove_dir_all(&dir);
}
