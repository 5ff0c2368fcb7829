//! CONFIG REWRITE persists the role a REPLICAOF gave the node, so a restart comes back as a
//! replica; min-replicas-to-write refuses writes when the replica stops acknowledging.

use std::time::Duration;

use vigil_tests::{Node, q, q_err, wait_until};

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text: String = q(c, &["INFO", section]);
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

#[test]
fn config_rewrite_keeps_replicaof_across_a_restart() {
    let master = Node::start(&[]);
    let dir = std::env::temp_dir().join(format!("vigil-rewrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("node.yaml");
    std::fs::write(&file, "port: 0\nmaxclients: 50\n").expect("write");
    let path = file.to_str().expect("utf8");

    let node = Node::spawn({
        let mut c = std::process::Command::new(vigil_tests::bin("vigil-node"));
        c.args(["--config", path]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        c
    });
    let mut c = node.conn();
    let _: () = q(&mut c, &["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    let _: () = q(&mut c, &["CONFIG", "SET", "maxclients", "77"]);
    let _: () = q(&mut c, &["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&file).expect("rewritten");
    assert!(text.contains(&format!("replicaof: 127.0.0.1 {}", master.port)), "{text}");
    assert!(text.contains("maxclients: 77"), "{text}");
    drop(c);
    drop(node);

    // The restarted node reads the file and is a replica again.
    let again = Node::spawn({
        let mut c = std::process::Command::new(vigil_tests::bin("vigil-node"));
        c.args(["--config", path]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        c
    });
    let mut c = again.conn();
    assert_eq!(info_field(&mut c, "replication", "role").as_deref(), Some("slave"));
    assert!(wait_until(Duration::from_secs(10), || info_field(&mut c, "replication", "master_link_status").as_deref()
        == Some("up")));
    let maxclients: Vec<String> = q(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert_eq!(maxclients, vec!["maxclients".to_string(), "77".to_string()]);

    // Without a file, CONFIG REWRITE is refused as Redis does.
    let mut m = master.conn();
    assert_eq!(q_err(&mut m, &["CONFIG", "REWRITE"]), "ERR The server is running without a config file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn min_replicas_to_write_refuses_writes_when_the_replica_stops() {
    let master = Node::start(&[]);
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {}", master.port)]);
    let mut m = master.conn();
    let mut r = replica.conn();
    assert!(wait_until(Duration::from_secs(10), || info_field(&mut r, "replication", "master_link_status").as_deref()
        == Some("up")));
    let _: () = q(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "1", "min-replicas-max-lag", "1"]);
    // The replica acknowledges every second: writes are accepted.
    assert!(wait_until(Duration::from_secs(5), || redis::cmd("SET").arg("k").arg("1").query::<()>(&mut m).is_ok()));

    replica.signal("STOP");
    let refused = wait_until(Duration::from_secs(10), || {
        matches!(redis::cmd("SET").arg("k").arg("2").query::<()>(&mut m),
            Err(e) if vigil_tests::err_text(&e) == "NOREPLICAS Not enough good replicas to write.")
    });
    replica.signal("CONT");
    assert!(refused, "writes must be refused once the stopped replica's ACKs are older than the max lag");
    assert!(wait_until(Duration::from_secs(10), || redis::cmd("SET").arg("k").arg("3").query::<()>(&mut m).is_ok()));
}
