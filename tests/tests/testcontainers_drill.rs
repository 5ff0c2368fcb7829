//! `vigil drill` against containers started with `testcontainers` (the deploy issue's way):
//! the locally built `vigil:local` image as a `GenericImage`, six containers on a user-defined
//! network this test creates, the same topology as deploy/compose/docker-compose.yml (a master,
//! two replicas, three sentinels in one Raft group; down-after 1000 ms here). Nothing is pulled.
//!
//! The binaries are static and resolve no host names, and every sentinel is given its peers at
//! start, so each process must know every address before it starts: the network gets a fixed
//! subnet and the containers start one at a time, taking .2, .3, ... in order; the test checks
//! each address testcontainers reports before it goes on. The containers carry docker-compose's
//! project and service labels, so `vigil drill --compose <project>` drills them unchanged.
//! Needs Docker and the image (scripts/test.sh builds it).

use std::process::Command;
use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use vigil_tests::{drill, drill_num};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker is installed")
}

/// The user-defined network, removed (with anything left on it) when dropped.
struct Network {
    name: String,
    project: String,
}

impl Network {
    /// Creates `name` on a free /24 of 172.31.0.0/16; returns it and the subnet's first three
    /// octets.
    fn create(name: &str, project: &str) -> (Network, String) {
        let first = std::process::id() % 200;
        for i in 0..50 {
            let prefix = format!("172.31.{}", 20 + (first + i) % 230);
            let out = docker(&["network", "create", "--subnet", &format!("{prefix}.0/24"), name]);
            if out.status.success() {
                return (Network { name: name.to_string(), project: project.to_string() }, prefix);
            }
        }
        panic!("no free /24 in 172.31.0.0/16 for the test network");
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
        let _ = docker(&["network", "rm", &self.name]);
    }
}

/// Starts `service` from vigil:local with `entrypoint`/`args` on `net`, and checks it got `ip`.
async fn start(
    project: &str,
    net: &str,
    service: &str,
    entrypoint: &str,
    args: Vec<String>,
    ip: &str,
) -> ContainerAsync<GenericImage> {
    let c = GenericImage::new("vigil", "local")
        .with_entrypoint(entrypoint)
        .with_wait_for(WaitFor::Nothing)
        .with_network(net)
        .with_label("com.docker.compose.project", project)
        .with_label("com.docker.compose.service", service)
        .with_cmd(args)
        .start()
        .await
        .unwrap_or_else(|e| panic!("start {service}: {e}"));
    let got = c.get_bridge_ip_address().await.expect("container address").to_string();
    assert_eq!(got, ip, "{service}: docker gave another address than the one its peers were told");
    c
}

fn answers(addr: &str) -> bool {
    redis::Client::open(format!("redis://{addr}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

fn master_of(sentinel: &str) -> Option<String> {
    let mut c = redis::Client::open(format!("redis://{sentinel}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    let (ip, port): (String, String) =
        redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg("mymaster").query(&mut c).ok()?;
    Some(format!("{ip}:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_drill_against_containers_started_with_testcontainers() {
    let images = docker(&["images", "-q", "vigil:local"]);
    assert!(
        !String::from_utf8_lossy(&images.stdout).trim().is_empty(),
        "the image vigil:local is missing: bash deploy/docker/build.sh (scripts/test.sh runs it)"
    );
    let project = format!("vigiltc{}", std::process::id());
    let net_name = format!("{project}_net");
    let (_net, p) = Network::create(&net_name, &project);
    let ip = |n: u8| format!("{p}.{n}");
    let (master, sentinels) = (ip(2), [ip(5), ip(6), ip(7)]);

    let node = "/usr/local/bin/vigil-node";
    let mut containers = Vec::new();
    for (i, service) in ["master", "replica-1", "replica-2"].into_iter().enumerate() {
        let me = ip(2 + i as u8);
        let mut args: Vec<String> =
            ["--port", "6379", "--bind", "0.0.0.0", "--dir", "/data", "--set"].map(String::from).to_vec();
        args.push(format!("replica-announce-ip={me}"));
        if i > 0 {
            args.extend(["--replicaof".to_string(), format!("{master} 6379")]);
        }
        containers.push(start(&project, &net_name, service, node, args, &me).await);
    }
    for (i, me) in sentinels.iter().enumerate() {
        let mut args: Vec<String> = vec!["--port", "26379", "--bind", "0.0.0.0", "--dir", "/data", "--announce-ip", me]
            .into_iter()
            .map(String::from)
            .collect();
        args.extend(["--grpc-port".into(), "26380".into(), "--announce-grpc".into(), format!("{me}:26380")]);
        for peer in sentinels.iter().filter(|p| *p != me) {
            args.extend(["--peer".into(), format!("{peer}:26380")]);
        }
        args.extend(["--monitor", "mymaster", &master, "6379", "2", "--down-after-ms", "1000"].map(String::from));
        let service = format!("sentinel-{}", i + 1);
        containers.push(start(&project, &net_name, &service, "/usr/local/bin/vigil-sentinel", args, me).await);
    }

    // Every process answers, and every sentinel hands out the master.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let want = format!("{master}:6379");
    while !(["2", "3", "4"].iter().all(|n| answers(&format!("{p}.{n}:6379")))
        && sentinels.iter().all(|s| master_of(&format!("{s}:26379")).as_deref() == Some(want.as_str())))
    {
        assert!(std::time::Instant::now() < deadline, "the containers did not come up within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Drills: the master container killed, then restarted (it must rejoin as a replica), under a
    // writing client with WAIT 1.
    for scenario in ["kill-master", "restart-master"] {
        let r = drill(scenario, &["--compose", &project, "--wait", "1"]);
        eprintln!("{scenario}: {r}");
        assert_eq!(drill_num(&r, "lost"), 0, "acknowledged writes lost with WAIT 1: {r}");
        assert_eq!(drill_num(&r, "failovers"), 1, "exactly one failover: {r}");
        assert!(drill_num(&r, "acknowledged") > 0, "{r}");
        assert_eq!(drill_num(&r, "split_brain_ms"), 0, "two masters acknowledged writes at once: {r}");
        if scenario == "restart-master" {
            assert!(drill_num(&r, "rejoin_ms") >= 0, "the restarted master rejoined: {r}");
        }
    }
    for c in containers {
        let _ = c.rm().await;
    }
}
