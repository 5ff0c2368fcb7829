//! The compose topology (deploy/compose/docker-compose.yml) from the locally built image
//! `vigil:local` (scripts/test.sh builds it): six real containers on a private network come up
//! as one group, answer through the announced addresses, and fail the master over when its
//! container is killed; then `vigil drill --compose` partitions the master's container from the
//! network and kills the sentinel leader mid-failover. Needs Docker and docker-compose (v1), as
//! CI machines have.

use std::process::Command;
use std::time::Duration;

use vigil_tests::wait_until;

const SENTINELS: [&str; 3] = ["172.28.5.21", "172.28.5.22", "172.28.5.23"];

struct Compose {
    project: String,
    file: String,
}

impl Compose {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .args(["-p", &self.project, "-f", &self.file])
            .args(args)
            .output()
            .expect("docker-compose is installed")
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let out = self.run(&["logs", "--no-color", "--tail", "30"]);
        if std::thread::panicking() {
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        }
        let _ = self.run(&["down", "-v", "--timeout", "2"]);
    }
}

fn conn(host: &str, port: u16) -> Option<redis::Connection> {
    redis::Client::open(format!("redis://{host}:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()
}

fn master_of(sentinel: &str) -> Option<String> {
    let (ip, port): (String, String) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg("mymaster")
        .query(&mut conn(sentinel, 26379)?)
        .ok()?;
    Some(format!("{ip}:{port}"))
}

fn field(sentinel: &str, name: &str) -> Option<String> {
    let f: Vec<String> =
        redis::cmd("SENTINEL").arg("MASTER").arg("mymaster").query(&mut conn(sentinel, 26379)?).ok()?;
    f.iter().position(|k| k == name).map(|i| f[i + 1].clone())
}

#[test]
fn the_compose_group_fails_over_a_killed_master_container() {
    let images = Command::new("docker").args(["images", "-q", "vigil:local"]).output().expect("docker is installed");
    assert!(
        !String::from_utf8_lossy(&images.stdout).trim().is_empty(),
        "the image vigil:local is missing: bash deploy/docker/build.sh (scripts/test.sh runs it)"
    );
    let compose = Compose {
        project: format!("vigiltest{}", std::process::id()),
        file: concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/compose/docker-compose.yml").to_string(),
    };
    let up = compose.run(&["up", "-d"]);
    assert!(up.status.success(), "docker-compose up: {}", String::from_utf8_lossy(&up.stderr));
    assert!(
        wait_until(Duration::from_secs(60), || SENTINELS.iter().all(|s| {
            master_of(s).as_deref() == Some("172.28.5.10:6379")
                && field(s, "num-slaves").as_deref() == Some("2")
                && field(s, "num-other-sentinels").as_deref() == Some("2")
        })),
        "the group did not come up"
    );
    let mut master = conn("172.28.5.10", 6379).expect("master");
    let _: () = redis::cmd("SET").arg("before").arg("failover").query(&mut master).expect("write");
    let _: i64 = redis::cmd("WAIT").arg(2).arg(2000).query(&mut master).expect("wait");

    let kill = compose.run(&["kill", "master"]);
    assert!(kill.status.success(), "docker-compose kill: {}", String::from_utf8_lossy(&kill.stderr));
    let replicas = ["172.28.5.11:6379", "172.28.5.12:6379"];
    assert!(
        wait_until(Duration::from_secs(60), || SENTINELS
            .iter()
            .all(|s| master_of(s).is_some_and(|m| replicas.contains(&m.as_str())))),
        "the sentinels did not fail over to a replica"
    );
    let new = master_of(SENTINELS[0]).expect("new master");
    let (host, port) = new.split_once(':').expect("addr");
    let mut c = conn(host, port.parse().expect("port")).expect("new master");
    let got: Option<String> = redis::cmd("GET").arg("before").query(&mut c).expect("read");
    assert_eq!(got.as_deref(), Some("failover"), "the acknowledged write survived");
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut c).expect("the new master takes writes");

    // The old master's container comes back and rejoins as a replica of the new master.
    let start = compose.run(&["start", "master"]);
    assert!(start.status.success(), "docker-compose start: {}", String::from_utf8_lossy(&start.stderr));
    assert!(
        wait_until(Duration::from_secs(60), || conn("172.28.5.10", 6379).is_some_and(|mut c| {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap_or_default();
            info.contains("role:slave") && info.contains(&format!("master_host:{host}"))
        })),
        "the old master did not rejoin as a replica"
    );

    // Drills against the containers: a network partition of the master (docker network
    // disconnect) and the sentinel leader killed during the failover, under a writing client.
    for scenario in ["partition-master", "kill-leader"] {
        let r = vigil_tests::drill(scenario, &["--compose", &compose.project, "--wait", "1"]);
        eprintln!("{scenario}: {r}");
        assert_eq!(vigil_tests::drill_num(&r, "lost"), 0, "acknowledged writes lost with WAIT 1: {r}");
        assert_eq!(vigil_tests::drill_num(&r, "failovers"), 1, "exactly one failover: {r}");
        assert!(vigil_tests::drill_num(&r, "acknowledged") > 0, "{r}");
    }
}
