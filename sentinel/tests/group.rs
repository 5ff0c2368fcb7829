//! Three group members in one process, talking real gRPC over loopback: they elect a leader,
//! a command proposed on a follower is committed through the leader and applied by all, the
//! leader's loss elects another, and a restarted member catches up from its own log and the
//! new leader before it answers clients (its read barrier).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vigil_sentinel::group::node::{Group, GroupConfig, node_id};
use vigil_sentinel::group::state::{Applied, Command};

struct Member {
    group: Group,
    stop: CancellationToken,
    addr: SocketAddr,
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-group-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn start(addr: SocketAddr, all: &[SocketAddr], dir: &std::path::Path) -> Member {
    // A restarted member binds the address its previous run just released: retry until free.
    let deadline = Instant::now() + Duration::from_secs(5);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot bind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let cfg = GroupConfig {
        advertise: addr.to_string(),
        listen: addr,
        peers: all.iter().filter(|a| **a != addr).map(ToString::to_string).collect(),
        local: None,
        join: false,
    };
    let stop = CancellationToken::new();
    let (group, _reports) = Group::start(cfg, listener, dir, stop.clone()).await.expect("start member");
    Member { group, stop, addr }
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn free_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

fn monitor(name: &str, addr: &str) -> Command {
    Command::Monitor { name: name.into(), addr: addr.into(), quorum: 2, options: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_agree_survive_the_leaders_loss_and_catch_up_after_a_restart() {
    let dir = scratch("three");
    let addrs = [free_addr().await, free_addr().await, free_addr().await];
    let mut members = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        members.push(start(*a, &addrs, &dir.join(format!("s{i}"))).await);
    }
    let ids: Vec<u64> = addrs.iter().map(|a| node_id(&a.to_string())).collect();
    assert_eq!(members.iter().map(|m| m.group.id).collect::<Vec<_>>(), ids);

    // One leader, known to all.
    wait_for("a leader known to all", Duration::from_secs(10), || {
        let l = members[0].group.leader();
        l.is_some() && members.iter().all(|m| m.group.leader() == l)
    })
    .await;
    let leader = members[0].group.leader().expect("leader");
    assert_eq!(members.iter().filter(|m| m.group.is_leader()).count(), 1);
    assert_eq!(members[0].group.members().len(), 3);

    // Configure once: proposed on a follower, applied everywhere.
    let follower = members.iter().position(|m| m.group.id != leader).expect("a follower");
    assert_eq!(members[follower].group.propose(monitor("mymaster", "10.0.0.1:6379")).await, Ok(Applied::Done));
    wait_for("MONITOR applied by all", Duration::from_secs(5), || {
        members.iter().all(|m| m.group.state().masters.contains_key("mymaster"))
    })
    .await;
    // The same definition again (every sentinel started with the same --monitor) is accepted.
    assert_eq!(members[0].group.propose(monitor("mymaster", "10.0.0.1:6379")).await, Ok(Applied::Done));
    assert_eq!(
        members[0].group.propose(monitor("mymaster", "10.9.9.9:6379")).await,
        Ok(Applied::Refused("ERR Duplicate master name.".into()))
    );

    // The leader goes away: the other two elect one of themselves and keep committing.
    let li = members.iter().position(|m| m.group.id == leader).expect("leader index");
    let gone = members.remove(li);
    gone.stop.cancel();
    drop(gone.group);
    wait_for("a new leader", Duration::from_secs(10), || {
        members.iter().any(|m| m.group.is_leader() && m.group.leader() != Some(leader))
    })
    .await;
    let switch = Command::Switched { name: "mymaster".into(), addr: "10.0.0.2:6379".into(), config_epoch: 1 };
    assert_eq!(members[0].group.propose(switch).await, Ok(Applied::Done));

    // The old leader restarts from its folder and catches up.
    let back = start(gone.addr, &addrs, &dir.join(format!("s{li}"))).await;
    assert_eq!(back.group.id, leader, "same address, same id");
    // Its read barrier: once it says it has caught up (and answers clients), its state already
    // holds the switch committed while it was down, not what its own log remembered.
    let mut synced = back.group.watch_synced();
    tokio::time::timeout(Duration::from_secs(10), synced.wait_for(|s| *s))
        .await
        .expect("the restarted member catches up in time")
        .expect("synced watch");
    let now = back.group.state().masters.get("mymaster").map(|m| (m.addr.clone(), m.config_epoch));
    assert_eq!(now, Some(("10.0.0.2:6379".to_string(), 1)), "caught up means the switch is applied");
    for m in members.iter().chain(std::iter::once(&back)) {
        m.stop.cancel();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_the_majority_changes_nothing() {
    let dir = scratch("minority");
    let addrs = [free_addr().await, free_addr().await, free_addr().await];
    let mut members = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        members.push(start(*a, &addrs, &dir.join(format!("s{i}"))).await);
    }
    wait_for("a leader", Duration::from_secs(10), || members.iter().any(|m| m.group.is_leader())).await;
    // Two members stop: the last one alone is a minority.
    let alone = members.pop().expect("member");
    for m in &members {
        m.stop.cancel();
    }
    let result = tokio::time::timeout(Duration::from_secs(8), alone.group.propose(monitor("m", "10.0.0.1:6379"))).await;
    assert!(!matches!(result, Ok(Ok(Applied::Done))), "a minority committed a change: {result:?}");
    assert!(alone.group.state().masters.is_empty(), "nothing applied without a majority");
    alone.stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_the_master_and_watch_every_switch_over_grpc() {
    use tokio_stream::StreamExt as _;
    use vigil_proto::grpc::{MasterName, discovery_client::DiscoveryClient};
    let dir = scratch("discovery");
    let addrs = [free_addr().await, free_addr().await, free_addr().await];
    let mut members = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        members.push(start(*a, &addrs, &dir.join(format!("s{i}"))).await);
    }
    wait_for("a leader known to all", Duration::from_secs(10), || {
        let l = members[0].group.leader();
        l.is_some() && members.iter().all(|m| m.group.leader() == l)
    })
    .await;
    assert_eq!(members[0].group.propose(monitor("mymaster", "10.0.0.1:6379")).await, Ok(Applied::Done));

    // Any member answers, once it has caught up with the group (UNAVAILABLE before) and
    // applied the entry.
    let mut client = DiscoveryClient::connect(format!("http://{}", members[2].addr)).await.expect("connect");
    wait_for("applied on the member asked", Duration::from_secs(5), || {
        members[2].group.synced() && members[2].group.state().masters.contains_key("mymaster")
    })
    .await;
    let got = client.get_master_addr(MasterName { name: "mymaster".into() }).await.expect("get").into_inner();
    assert_eq!((got.ip.as_str(), got.port, got.config_epoch), ("10.0.0.1", 6379, 0));
    let missing = client.get_master_addr(MasterName { name: "nope".into() }).await.expect_err("unknown name");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // The watch starts with the current master and then pushes each switch with its epoch.
    let mut watch = client.watch_master(MasterName { name: "mymaster".into() }).await.expect("watch").into_inner();
    let first = watch.next().await.expect("first").expect("ok");
    assert_eq!((first.port, first.config_epoch), (6379, 0));
    for epoch in [1, 2] {
        let cmd = Command::Switched {
            name: "mymaster".into(),
            addr: format!("10.0.0.{}:6379", epoch + 1),
            config_epoch: epoch,
        };
        assert_eq!(members[0].group.propose(cmd).await, Ok(Applied::Done));
        let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("in time")
            .expect("item")
            .expect("ok");
        assert_eq!((next.ip, next.config_epoch), (format!("10.0.0.{}", epoch + 1), epoch));
    }
    for m in &members {
        m.stop.cancel();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
