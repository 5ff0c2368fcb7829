//! `vigil up` starts a whole local group (master, two replicas, three sentinels), `vigil
//! status` describes it, the group fails over, and Ctrl-C stops every process.

use std::process::Command;
use std::time::Duration;

use vigil_tests::{VigilUp, bin, wait_until};

fn answers(port: u16) -> bool {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(300)))
        .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
}

fn master_port(sentinel: u16) -> Option<u16> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{sentinel}/")).ok()?;
    let (_, port): (String, String) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg("mymaster")
        .query(&mut client.get_connection().ok()?)
        .ok()?;
    port.parse().ok()
}

#[test]
fn vigil_up_runs_a_group_that_fails_over_and_stops_on_ctrl_c() {
    let mut up = VigilUp::start(std::env::temp_dir().join(format!("vigil-up-{}", std::process::id())));
    let mut ports: Vec<(String, u16)> = Vec::new();
    for line in &up.lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, addr, ..] = words.as_slice()
            && (name.starts_with("master") || name.starts_with("replica") || name.starts_with("sentinel"))
            && let Some(port) = addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok())
        {
            ports.push((name.to_string(), port));
        }
    }
    assert_eq!(ports.len(), 6, "six processes listed: {ports:?}");
    let port = |n: &str| ports.iter().find(|(name, _)| name == n).map(|(_, p)| *p).expect("listed");
    let (master, sentinel) = (port("master"), port("sentinel-1"));
    assert_eq!(master_port(sentinel), Some(master));

    let status = Command::new(bin("vigil"))
        .args(["status", "--sentinel", &format!("127.0.0.1:{sentinel}")])
        .output()
        .expect("vigil status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}{}", String::from_utf8_lossy(&status.stderr));
    assert!(text.contains(&format!("master 127.0.0.1:{master}")), "{text}");
    assert!(text.matches("127.0.0.1:").count() >= 6, "replicas and sentinels listed: {text}");

    // The group fails the master over.
    let mut c =
        redis::Client::open(format!("redis://127.0.0.1:{master}/")).expect("url").get_connection().expect("master");
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).expect("info");
    let pid = info.lines().find_map(|l| l.strip_prefix("process_id:")).expect("pid").trim().to_string();
    let _ = Command::new("kill").args(["-9", &pid]).status();
    let replicas = [port("replica-1"), port("replica-2")];
    assert!(
        wait_until(Duration::from_secs(30), || master_port(sentinel).is_some_and(|p| replicas.contains(&p))),
        "no failover"
    );

    // Ctrl-C stops everything.
    let _ = Command::new("kill").args(["-INT", &up.child.id().to_string()]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Ok(Some(s)) = up.child.try_wait() {
            break s.code();
        }
        assert!(std::time::Instant::now() < deadline, "vigil up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    assert!(
        wait_until(Duration::from_secs(10), || ports.iter().all(|(_, p)| !answers(*p))),
        "a process survived vigil up"
    );
}
