//! A restarted sentinel keeps its id and its view: after a failover, the same command line
//! (which still names the old master) resumes with the new master from the state file.

use std::time::Duration;

use vigil_tests::{Node, link_up, sentinel_dir, sentinel_master_addr, sentinel_replicas, start_sentinel, wait_until};

#[test]
fn a_restarted_sentinel_resumes_with_its_id_and_the_new_master() {
    let dir = sentinel_dir("restart");
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut replica.conn())));
    let old_port = master.port;

    let first = start_sentinel(&dir, old_port, 1, &["--down-after-ms", "1000"]);
    let id: String = redis::cmd("SENTINEL").arg("MYID").query(&mut first.conn()).expect("myid");
    assert!(wait_until(Duration::from_secs(10), || sentinel_replicas(&first) == 1));
    master.signal("KILL");
    let promoted = Some(("127.0.0.1".to_string(), replica.port.to_string()));
    assert!(
        wait_until(Duration::from_secs(20), || sentinel_master_addr(&first) == promoted),
        "failover did not happen"
    );
    drop(first);

    let second = start_sentinel(&dir, old_port, 1, &["--down-after-ms", "1000"]);
    let again: String = redis::cmd("SENTINEL").arg("MYID").query(&mut second.conn()).expect("myid");
    assert_eq!(again, id, "same identity after a restart");
    assert_eq!(
        sentinel_master_addr(&second),
        promoted,
        "the view survives the restart, not the command line's old master"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
