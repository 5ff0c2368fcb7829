//! Running a sentinel as an operator does: a YAML config file that is only read, run-time
//! changes (MONITOR/SET/REMOVE/RESET) that survive a restart, TILT after a stall, the
//! notification and client-reconfig scripts, passwords on the data nodes, and a master that
//! turns into a replica.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_proto::Frame;
use vigil_tests::{LogsOnPanic, Node, bin, link_up, q, q_err, sentinel_dir, wait_until};

/// Every event the sentinel publishes, as `"<channel> <payload>"`, collected by a PSUBSCRIBE *
/// client on its own thread.
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn subscribe(s: &Node) -> Events {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut raw = s.raw_sync();
        raw.send_raw(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$1\r\n*\r\n");
        let ack = raw.read_frame().expect("psubscribe ack");
        assert!(matches!(ack, Frame::Array(_)), "{ack:?}");
        let out = seen.clone();
        std::thread::spawn(move || {
            while let Ok(Frame::Array(items)) = raw.read_frame() {
                let text: Vec<String> = items
                    .iter()
                    .map(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default())
                    .collect();
                if text.len() == 4 && text[0] == "pmessage" {
                    out.lock().expect("events").push(format!("{} {}", text[2], text[3]));
                }
            }
        });
        Events(seen)
    }

    fn has(&self, prefix: &str) -> bool {
        self.0.lock().expect("events").iter().any(|e| e.starts_with(prefix))
    }

    fn wait(&self, prefix: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.has(prefix))
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().expect("events").clone()
    }
}

fn sentinel_with_config(dir: &Path, config: &Path) -> Node {
    let mut cmd = Command::new(bin("vigil-sentinel"));
    cmd.args(["--port", "0", "--dir", dir.to_str().expect("utf8")])
        .args(["--config", config.to_str().expect("utf8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Node::spawn(cmd)
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let p = dir.join("sentinel.yaml");
    std::fs::write(&p, text).expect("write config");
    p
}

fn master_field(s: &Node, name: &str, field: &str) -> Option<String> {
    let mut c = s.conn();
    let fields: Vec<String> = redis::cmd("SENTINEL").arg("MASTER").arg(name).query(&mut c).ok()?;
    fields.iter().position(|f| f == field).map(|i| fields[i + 1].clone())
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p.to_str().expect("utf8").to_string()
}

#[test]
fn run_time_changes_survive_a_restart_and_the_config_file_is_only_read() {
    let dir = sentinel_dir("admin-persist");
    let m1 = Node::start(&[]);
    let m2 = Node::start(&[]);
    let r1 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", m1.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r1.conn())));
    let cfg_dir = dir.join("etc");
    let cfg = write_config(
        &cfg_dir,
        &format!(
            "masters:\n  alpha:\n    host: 127.0.0.1\n    port: {}\n    quorum: 1\n    down-after-milliseconds: 5000\n",
            m1.port
        ),
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o444)).expect("read-only config");
    let before = std::fs::read(&cfg).expect("read");

    let s = sentinel_with_config(&dir, &cfg);
    let events = Events::subscribe(&s);
    let mut c = s.conn();
    assert_eq!(master_field(&s, "alpha", "down-after-milliseconds").as_deref(), Some("5000"));
    let ok: String = q(&mut c, &["SENTINEL", "MONITOR", "beta", "127.0.0.1", &m2.port.to_string(), "1"]);
    assert_eq!(ok, "OK");
    assert!(events.wait(&format!("+monitor master beta 127.0.0.1 {} quorum 1", m2.port), Duration::from_secs(5)));
    let ok: String = q(&mut c, &["SENTINEL", "SET", "alpha", "down-after-milliseconds", "4321", "quorum", "2"]);
    assert_eq!(ok, "OK");
    assert!(events.wait(
        &format!("+set master alpha 127.0.0.1 {} down-after-milliseconds 4321", m1.port),
        Duration::from_secs(5)
    ));
    // A bad pair refuses the whole command: nothing of it is applied.
    assert_eq!(
        q_err(&mut c, &["SENTINEL", "SET", "alpha", "parallel-syncs", "3", "quorum", "0"]),
        "ERR Invalid argument '0' for SENTINEL SET 'quorum'"
    );
    assert_eq!(master_field(&s, "alpha", "parallel-syncs").as_deref(), Some("1"));

    // RESET forgets the replicas and finds them again at once (not after the 10 s INFO period).
    assert!(wait_until(Duration::from_secs(10), || master_field(&s, "alpha", "num-slaves").as_deref() == Some("1")));
    let reset: i64 = q(&mut c, &["SENTINEL", "RESET", "al*"]);
    assert_eq!(reset, 1);
    assert!(events.has(&format!("+reset-master master alpha 127.0.0.1 {}", m1.port)));
    assert!(
        wait_until(Duration::from_secs(3), || master_field(&s, "alpha", "num-slaves").as_deref() == Some("1")),
        "the replica was not rediscovered right after RESET"
    );
    drop(c);
    drop(s);

    // Restart: the runtime changes are there, the file is untouched.
    let s = sentinel_with_config(&dir, &cfg);
    let mut c = s.conn();
    assert_eq!(master_field(&s, "alpha", "down-after-milliseconds").as_deref(), Some("4321"));
    assert_eq!(master_field(&s, "alpha", "quorum").as_deref(), Some("2"));
    assert_eq!(master_field(&s, "beta", "port"), Some(m2.port.to_string()));
    let ok: String = q(&mut c, &["SENTINEL", "REMOVE", "alpha"]);
    assert_eq!(ok, "OK");
    drop(c);
    drop(s);
    let s = sentinel_with_config(&dir, &cfg);
    let mut c = s.conn();
    let role: (String, Vec<String>) = q(&mut c, &["ROLE"]);
    assert_eq!(role.1, vec!["beta".to_string()], "a configured master removed at run time stays removed");
    assert_eq!(std::fs::read(&cfg).expect("read"), before, "the config file is never written");
    let _ = std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_file_is_refused_naming_the_file_and_the_key() {
    let dir = sentinel_dir("admin-badcfg");
    let cfg = write_config(&dir, "masters:\n  m:\n    host: 127.0.0.1\n    port: 6379\n    quorum: 0\n");
    let out = Command::new(bin("vigil-sentinel"))
        .args(["--port", "0", "--dir", dir.to_str().expect("utf8"), "--config", cfg.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(cfg.to_str().expect("utf8"))
            && err.contains("masters.m.quorum: expected an integer of at least 1"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stalled_sentinel_acts_only_after_tilt() {
    let dir = sentinel_dir("admin-tilt");
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut replica.conn())));
    let s = vigil_tests::start_sentinel(&dir, master.port, 1, &["--down-after-ms", "1000"]);
    let _logs = LogsOnPanic(vec![&s]);
    let events = Events::subscribe(&s);
    let mut c = s.conn();
    let ok: String = q(&mut c, &["SENTINEL", "DEBUG", "tilt-period", "1500"]);
    assert_eq!(ok, "OK");
    assert!(wait_until(Duration::from_secs(10), || vigil_tests::sentinel_replicas(&s) == 1));
    // Stop the sentinel for 3 s (the fault itself, not a wait) and kill the master meanwhile.
    // On resuming, every deadline the sentinel measured is stale: it must distrust them (TILT)
    // for the TILT period, and only then judge the master down and fail it over.
    s.signal("STOP");
    master.signal("KILL");
    std::thread::sleep(Duration::from_secs(3));
    s.signal("CONT");
    let promoted = Some(("127.0.0.1".to_string(), replica.port.to_string()));
    assert!(wait_until(Duration::from_secs(20), || vigil_tests::sentinel_master_addr(&s) == promoted));
    let all = events.all();
    let at = |prefix: &str| all.iter().position(|e| e.starts_with(prefix));
    let (tilt, untilt, sdown) = (at("+tilt #tilt mode entered"), at("-tilt #tilt mode exited"), at("+sdown master"));
    assert!(tilt.is_some() && untilt.is_some() && sdown.is_some(), "{all:?}");
    assert!(tilt < untilt && untilt < sdown, "the master was judged down during TILT: {all:?}");
    let info: String = redis::cmd("INFO").arg("sentinel").query(&mut c).expect("info");
    assert!(info.contains("sentinel_total_tilt:1") && info.contains("sentinel_tilt:0"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scripts_run_with_redis_sentinels_arguments() {
    let dir = sentinel_dir("admin-scripts");
    std::fs::create_dir_all(&dir).expect("dir");
    let notes = dir.join("notifications.log");
    let reconf = dir.join("reconfig.log");
    let notify = script(&dir, "notify.sh", &format!("echo \"$@\" >> {}", notes.display()));
    let client = script(&dir, "reconf.sh", &format!("echo \"$@\" >> {}", reconf.display()));
    let failing = script(&dir, "fail.sh", "exit 2");
    let master = Node::start(&[]);
    let replica = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut replica.conn())));
    let cfg = write_config(
        &dir.join("etc"),
        &format!(
            "deny-scripts-reconfig: no\nmasters:\n  mymaster:\n    host: 127.0.0.1\n    port: {}\n    quorum: 1\n    down-after-milliseconds: 1000\n    notification-script: {notify}\n    client-reconfig-script: {client}\n",
            master.port
        ),
    );
    let s = sentinel_with_config(&dir, &cfg);
    let _logs = LogsOnPanic(vec![&s]);
    let events = Events::subscribe(&s);
    assert!(wait_until(Duration::from_secs(10), || vigil_tests::sentinel_replicas(&s) == 1));
    master.signal("KILL");
    let (mp, rp) = (master.port, replica.port);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || read(&notes)
            .contains(&format!("+switch-master mymaster 127.0.0.1 {mp} 127.0.0.1 {rp}"))),
        "notifications: {}",
        read(&notes)
    );
    assert!(read(&notes).contains(&format!("+sdown master mymaster 127.0.0.1 {mp}")), "{}", read(&notes));
    assert!(
        wait_until(Duration::from_secs(5), || read(&reconf)
            .contains(&format!("mymaster leader start 127.0.0.1 {mp} 127.0.0.1 {rp}"))),
        "client-reconfig-script: {}",
        read(&reconf)
    );
    // A script that exits with 2 is not retried: -script-error <path> <signal> <code>.
    let mut c = s.conn();
    let ok: String = q(&mut c, &["SENTINEL", "SET", "mymaster", "notification-script", &failing]);
    assert_eq!(ok, "OK");
    let ok: String = q(&mut c, &["SENTINEL", "SET", "mymaster", "failover-timeout", "60000"]);
    assert_eq!(ok, "OK");
    assert!(events.wait(&format!("-script-error {failing} 0 2"), Duration::from_secs(10)), "{:?}", events.all());

    // Exit code 1 is retried (after script-retry-delay, shortened here); a script running past
    // script-max-runtime is killed: -script-timeout <path> <pid>.
    let ok: String = q(&mut c, &["SENTINEL", "DEBUG", "script-retry-delay", "200", "script-max-runtime", "1000"]);
    assert_eq!(ok, "OK");
    let retried = dir.join("retried.log");
    let flaky = script(
        &dir,
        "flaky.sh",
        &format!(
            "if [ ! -f {m} ]; then touch {m}; exit 1; fi\necho \"$@\" >> {log}",
            m = dir.join("first-run").display(),
            log = retried.display()
        ),
    );
    let ok: String = q(&mut c, &["SENTINEL", "SET", "mymaster", "notification-script", &flaky]);
    assert_eq!(ok, "OK");
    assert!(
        wait_until(Duration::from_secs(10), || read(&retried)
            .contains(&format!("+set master mymaster 127.0.0.1 {rp} notification-script {flaky}"))),
        "the script that failed with 1 was not retried: {:?}",
        events.all()
    );
    let slow = script(&dir, "slow.sh", "sleep 30");
    let ok: String = q(&mut c, &["SENTINEL", "SET", "mymaster", "notification-script", &slow]);
    assert_eq!(ok, "OK");
    assert!(events.wait(&format!("-script-timeout {slow} "), Duration::from_secs(10)), "{:?}", events.all());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auth_pass_reaches_password_protected_data_nodes() {
    let dir = sentinel_dir("admin-auth");
    let master = Node::start(&["--requirepass", "s3cret"]);
    let replica = Node::start(&[
        "--requirepass",
        "s3cret",
        "--set",
        "masterauth=s3cret",
        "--replicaof",
        &format!("127.0.0.1 {}", master.port),
    ]);
    let mut rc = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}", replica.port)).expect("url");
    assert!(wait_until(Duration::from_secs(10), || rc.get_connection().is_ok_and(|mut c| link_up(&mut c))));
    let cfg = write_config(
        &dir.join("etc"),
        &format!(
            "masters:\n  mymaster:\n    host: 127.0.0.1\n    port: {}\n    quorum: 1\n    down-after-milliseconds: 1000\n    auth-pass: s3cret\n",
            master.port
        ),
    );
    let s = sentinel_with_config(&dir, &cfg);
    let _logs = LogsOnPanic(vec![&s]);
    assert!(
        wait_until(Duration::from_secs(10), || vigil_tests::sentinel_replicas(&s) == 1),
        "replicas are only learnt from an authenticated INFO"
    );
    master.signal("KILL");
    let promoted = Some(("127.0.0.1".to_string(), replica.port.to_string()));
    assert!(wait_until(Duration::from_secs(20), || vigil_tests::sentinel_master_addr(&s) == promoted));
    assert!(
        wait_until(Duration::from_secs(5), || rc.get_connection().is_ok_and(|mut c| redis::cmd("ROLE")
            .query::<Vec<redis::Value>>(&mut c)
            .is_ok_and(|r| { matches!(r.first(), Some(redis::Value::BulkString(b)) if b == b"master") }))),
        "the promotion transaction authenticated"
    );
    let _ = (&mut rc, std::fs::remove_dir_all(&dir));
}

#[test]
fn a_master_that_reports_the_replica_role_is_judged_down() {
    let dir = sentinel_dir("admin-role");
    let master = Node::start(&[]);
    let elsewhere = Node::start(&[]);
    let s = vigil_tests::start_sentinel(&dir, master.port, 1, &["--down-after-ms", "1000"]);
    let _logs = LogsOnPanic(vec![&s]);
    let events = Events::subscribe(&s);
    let mut c = s.conn();
    let ok: String = q(&mut c, &["SENTINEL", "DEBUG", "info-period", "200"]);
    assert_eq!(ok, "OK");
    assert!(wait_until(Duration::from_secs(5), || master_field(&s, "mymaster", "info-refresh")
        .is_some_and(|v| v.parse::<u64>().is_ok_and(|ms| ms < 1000))));
    // It answers PING, but says it follows another master: SDOWN after down-after + 2 x info period.
    let ok: String = q(&mut master.conn(), &["REPLICAOF", "127.0.0.1", &elsewhere.port.to_string()]);
    assert_eq!(ok, "OK");
    assert!(
        events.wait(&format!("+sdown master mymaster 127.0.0.1 {}", master.port), Duration::from_secs(10)),
        "{:?}",
        events.all()
    );
    assert!(events.has(&format!("-role-change master mymaster 127.0.0.1 {} new reported role is slave", master.port)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_stops_the_sentinel_cleanly() {
    let dir = sentinel_dir("admin-shutdown");
    let master = Node::start(&[]);
    let mut s = vigil_tests::start_sentinel(&dir, master.port, 1, &[]);
    let mut raw = s.raw_sync();
    assert_eq!(raw.cmd(&["SHUTDOWN"]), Frame::Simple("OK".into()));
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0), "exit status after SHUTDOWN");
    let state = std::fs::read_to_string(dir.join("vigil-sentinel.state")).unwrap_or_default();
    assert!(state.contains("mymaster"), "the view is saved on the way out: {state}");
    let _ = std::fs::remove_dir_all(&dir);
}
