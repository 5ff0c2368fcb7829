//! Three vigil-sentinels forming one group (Raft over gRPC) guard a master with two replicas:
//! they agree on the configuration, fail the master over exactly once, all answer the new
//! master, and a minority never acts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_proto::Frame;
use vigil_tests::proxy::Proxy;
use vigil_tests::{LogsOnPanic, Node, RedisServer, free_port, link_up, sentinel_dir, start_sentinel, wait_until};

/// Counts the `+switch-master` (and other) events one sentinel publishes.
#[derive(Clone)]
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
                let t: Vec<String> = items
                    .iter()
                    .map(|f| f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default())
                    .collect();
                if t.len() == 4 && t[0] == "pmessage" {
                    out.lock().expect("events").push(format!("{} {}", t[2], t[3]));
                }
            }
        });
        Events(seen)
    }

    fn count(&self, prefix: &str) -> usize {
        self.0.lock().expect("events").iter().filter(|e| e.starts_with(prefix)).count()
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().expect("events").clone()
    }
}

/// A group of three sentinels monitoring `mymaster` at `master_port`.
struct Trio {
    sentinels: Vec<Option<Node>>,
    dirs: Vec<std::path::PathBuf>,
    grpc: Vec<u16>,
    master_port: u16,
    quorum: u32,
    /// With partitions: a proxy in front of each sentinel's gRPC server; sentinel i listens and
    /// connects from 127.0.0.(11+i).
    proxies: Vec<Proxy>,
}

/// The loopback address sentinel `i` uses when the trio can be partitioned.
fn own_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11 + i as u8))
}

impl Trio {
    fn start(tag: &str, master_port: u16, quorum: u32) -> Trio {
        Trio::start_with(tag, master_port, quorum, false)
    }

    fn start_with(tag: &str, master_port: u16, quorum: u32, partitionable: bool) -> Trio {
        let grpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dirs: Vec<_> = (0..3).map(|i| sentinel_dir(&format!("{tag}-{i}"))).collect();
        let proxies = if partitionable {
            (0..3).map(|i| Proxy::start(SocketAddr::new(own_ip(i), grpc[i]))).collect()
        } else {
            Vec::new()
        };
        let mut t = Trio { sentinels: vec![None, None, None], dirs, grpc, master_port, quorum, proxies };
        for i in 0..3 {
            t.restart(i);
        }
        t
    }

    /// The address the others reach sentinel `j`'s gRPC server at.
    fn grpc_addr(&self, j: usize) -> String {
        match self.proxies.get(j) {
            Some(p) => p.addr.to_string(),
            None => format!("127.0.0.1:{}", self.grpc[j]),
        }
    }

    /// Cuts sentinel `i` off from the other two (or heals the cut), both ways.
    fn isolate(&self, i: usize, cut: bool) {
        for j in (0..3).filter(|j| *j != i) {
            if cut {
                self.proxies[i].block(own_ip(j));
                self.proxies[j].block(own_ip(i));
            } else {
                self.proxies[i].unblock(own_ip(j));
                self.proxies[j].unblock(own_ip(i));
            }
        }
    }

    fn restart(&mut self, i: usize) {
        let peers: Vec<String> =
            (0..3).filter(|j| *j != i).flat_map(|j| ["--peer".to_string(), self.grpc_addr(j)]).collect();
        let mut args: Vec<String> =
            vec!["--down-after-ms".into(), "1000".into(), "--grpc-port".into(), self.grpc[i].to_string()];
        args.extend(peers);
        if !self.proxies.is_empty() {
            args.extend(["--grpc-bind".into(), own_ip(i).to_string(), "--announce-grpc".into(), self.grpc_addr(i)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.sentinels[i] = Some(start_sentinel(&self.dirs[i], self.master_port, self.quorum, &args));
    }

    fn get(&self, i: usize) -> &Node {
        self.sentinels[i].as_ref().expect("running")
    }

    fn kill(&mut self, i: usize) {
        if let Some(s) = self.sentinels[i].take() {
            s.signal("KILL");
        }
    }

    /// The index of the sentinel that says it leads the group (INFO sentinel).
    fn leader(&self) -> Option<usize> {
        (0..3).find(|i| {
            self.sentinels[*i].as_ref().is_some_and(|s| {
                let info: String = redis::cmd("INFO").arg("sentinel").query(&mut s.conn()).unwrap_or_default();
                info.contains("sentinel_group_leader:1")
            })
        })
    }

    /// The exit code of sentinel `i` if it has exited (it is then no longer running).
    fn exit_code(&mut self, i: usize) -> Option<i32> {
        let code = self.sentinels[i].as_mut().and_then(|s| s.wait_exit(Duration::from_millis(1)));
        if code.is_some() {
            self.sentinels[i] = None;
        }
        code
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.sentinels.iter().flatten()
    }

    fn field(s: &Node, field: &str) -> Option<String> {
        let mut c = s.redis().get_connection().ok()?;
        let f: Vec<String> = redis::cmd("SENTINEL").arg("MASTER").arg("mymaster").query(&mut c).ok()?;
        f.iter().position(|k| k == field).map(|i| f[i + 1].clone())
    }

    /// Every running sentinel knows the master, its replicas and the other two sentinels, and
    /// has caught up with the group (it hands out the master's address).
    fn settled(&self, replicas: usize) -> bool {
        self.running().all(|s| {
            addr_of(s).is_some()
                && Trio::field(s, "num-other-sentinels").as_deref() == Some("2")
                && Trio::field(s, "num-slaves").is_some_and(|n| n.parse::<usize>().unwrap_or(0) >= replicas)
        })
    }
}

impl Drop for Trio {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn addr_of(s: &Node) -> Option<(String, String)> {
    vigil_tests::sentinel_master_addr(s)
}

fn topology() -> (Node, Node, Node) {
    let master = Node::start(&[]);
    let r1 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let r2 = Node::start(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    assert!(wait_until(Duration::from_secs(10), || link_up(&mut r1.conn()) && link_up(&mut r2.conn())));
    (master, r1, r2)
}

#[test]
fn three_sentinels_fail_the_master_over_exactly_once_and_all_answer_the_new_master() {
    let (master, r1, r2) = topology();
    let trio = Trio::start("group-basic", master.port, 2);
    let _logs = LogsOnPanic(trio.running().collect());
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    let events: Vec<Events> = trio.running().map(Events::subscribe).collect();

    // Configure once: MONITOR on one sentinel appears on all three.
    let extra = Node::start(&[]);
    let ok: String = redis::cmd("SENTINEL")
        .arg(&["MONITOR", "other", "127.0.0.1", &extra.port.to_string(), "2"])
        .query(&mut trio.get(1).conn())
        .expect("monitor");
    assert_eq!(ok, "OK");
    assert!(
        wait_until(Duration::from_secs(5), || trio.running().all(|s| {
            let role: (String, Vec<String>) = redis::cmd("ROLE").query(&mut s.conn()).expect("role");
            role.1.contains(&"other".to_string())
        })),
        "MONITOR on one sentinel did not reach all"
    );

    master.signal("KILL");
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    assert!(
        wait_until(Duration::from_secs(30), || trio
            .running()
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "not every sentinel answers a promoted replica"
    );
    let answers: Vec<_> = trio.running().map(addr_of).collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "the sentinels disagree: {answers:?}");
    assert!(
        wait_until(Duration::from_secs(10), || events.iter().all(|e| e.count("+switch-master mymaster") == 1)),
        "each subscriber gets one +switch-master: {:?}",
        events.iter().map(Events::all).collect::<Vec<_>>()
    );
    let leaders: usize = events.iter().map(|e| e.count("+elected-leader master mymaster")).sum();
    assert_eq!(leaders, 1, "exactly one sentinel led the failover");
    // The freshly promoted master is not failed over again (watch for a few seconds).
    assert!(
        !wait_until(Duration::from_secs(4), || events.iter().any(|e| e.count("+switch-master mymaster") > 1)),
        "a second failover: {:?}",
        events.iter().map(Events::all).collect::<Vec<_>>()
    );
}

#[test]
fn with_one_sentinel_down_the_other_two_still_fail_over() {
    let (master, r1, r2) = topology();
    let mut trio = Trio::start("group-one-down", master.port, 2);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    trio.kill(0);
    master.signal("KILL");
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    assert!(
        wait_until(Duration::from_secs(30), || trio
            .running()
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "two of three sentinels did not fail over"
    );
    // The killed sentinel comes back and catches up with the group. Its state file still names
    // the old master; it must never hand that out (nil until it has caught up).
    trio.restart(0);
    let new = addr_of(trio.get(1));
    let mut answers = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let a = addr_of(trio.get(0));
            answers.push(a.clone());
            a == new
        }),
        "the restarted sentinel did not catch up"
    );
    let old = Some(("127.0.0.1".to_string(), master.port.to_string()));
    assert!(!answers.contains(&old), "the restarted sentinel handed out the old master: {answers:?}");
}

#[test]
fn a_sentinel_left_alone_never_fails_over() {
    let (master, _r1, _r2) = topology();
    let mut trio = Trio::start("group-alone", master.port, 1);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    // Quorum 1: one sentinel alone would judge the master down by itself, but it has no
    // majority of the group, so it can neither lead nor commit a failover.
    trio.kill(0);
    trio.kill(1);
    let events = Events::subscribe(trio.get(2));
    master.signal("KILL");
    let before = Some(("127.0.0.1".to_string(), master.port.to_string()));
    assert!(
        wait_until(Duration::from_secs(10), || events.count("+odown master mymaster") == 1),
        "the lone sentinel should still see the master objectively down (quorum 1): {:?}",
        events.all()
    );
    assert!(
        !wait_until(Duration::from_secs(6), || events.count("+elected-leader") > 0 || addr_of(trio.get(2)) != before),
        "a sentinel without a majority acted: {:?}",
        events.all()
    );
}

#[test]
fn a_new_leader_completes_a_failover_whose_leader_died_after_the_promotion() {
    let (master, r1, r2) = topology();
    let mut trio = Trio::start("group-crash", master.port, 2);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    assert!(wait_until(Duration::from_secs(10), || trio.leader().is_some()), "no leader");
    let leader = trio.leader().expect("leader");
    // The leader will exit (code 99) right after seeing its promotion, before the switch.
    let ok: String = redis::cmd("SENTINEL")
        .arg("SIMULATE-FAILURE")
        .arg("crash-after-promotion")
        .query(&mut trio.get(leader).conn())
        .expect("simulate");
    assert_eq!(ok, "OK");
    master.signal("KILL");
    assert!(
        wait_until(Duration::from_secs(30), || trio.exit_code(leader) == Some(99)),
        "the leader did not crash after the promotion"
    );
    let is_master = |n: &Node| {
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut n.conn()).unwrap_or_default();
        matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master")
    };
    let promoted = if is_master(&r1) { r1.port } else { r2.port };
    assert!(is_master(&r1) != is_master(&r2), "exactly one replica was promoted before the crash");
    let _logs = LogsOnPanic(trio.running().collect());
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    assert!(
        wait_until(Duration::from_secs(40), || trio
            .running()
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "the surviving sentinels did not complete the failover"
    );
    let answers: Vec<_> = trio.running().map(addr_of).collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "the survivors disagree: {answers:?}");
    assert_eq!(
        answers[0].as_ref().map(|(_, p)| p.clone()),
        Some(promoted.to_string()),
        "the failover is finished with the replica already promoted (it may hold newer writes)"
    );
}

#[test]
fn a_partitioned_leader_never_acts_and_catches_up_when_the_partition_heals() {
    let (master, r1, r2) = topology();
    let trio = Trio::start_with("group-partition", master.port, 1, true);
    let _logs = LogsOnPanic(trio.running().collect());
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    assert!(wait_until(Duration::from_secs(10), || trio.leader().is_some()), "no leader");
    // Cut the leader off from the other two. With quorum 1 it would judge the master down by
    // itself, and it believed it was the leader: without a majority it must still do nothing.
    let cut = trio.leader().expect("leader");
    trio.isolate(cut, true);
    let alone = Events::subscribe(trio.get(cut));
    let before = addr_of(trio.get(cut));
    master.signal("KILL");
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    let majority: Vec<&Node> = (0..3).filter(|i| *i != cut).map(|i| trio.get(i)).collect();
    assert!(
        wait_until(Duration::from_secs(30), || majority
            .iter()
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "the majority side did not fail over"
    );
    assert_eq!(addr_of(trio.get(cut)), before, "the cut-off sentinel changed its answer on its own");
    assert_eq!(alone.count("+elected-leader"), 0, "the cut-off sentinel acted: {:?}", alone.all());
    assert_eq!(alone.count("+promoted-slave"), 0, "{:?}", alone.all());
    // Healed: it learns the group's decision.
    trio.isolate(cut, false);
    let new = addr_of(majority[0]);
    assert!(
        wait_until(Duration::from_secs(20), || addr_of(trio.get(cut)) == new),
        "it did not catch up after the partition"
    );
}

#[test]
fn the_same_group_guards_debian_redis_servers() {
    let master = RedisServer::start(&[]);
    let replicaof = ["--replicaof", "127.0.0.1", &master.port.to_string()];
    let r1 = RedisServer::start(&replicaof);
    let r2 = RedisServer::start(&replicaof);
    let synced = |r: &RedisServer| {
        vigil_tests::info_field(&mut r.conn(), "replication", "master_link_status").as_deref() == Some("up")
    };
    assert!(wait_until(Duration::from_secs(10), || synced(&r1) && synced(&r2)));
    let trio = Trio::start("group-redis", master.port, 2);
    let _logs = LogsOnPanic(trio.running().collect());
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    drop(master); // killed
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    assert!(
        wait_until(Duration::from_secs(30), || trio
            .running()
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "the group did not fail the redis-server master over"
    );
}

#[test]
fn quorum_three_with_one_sentinel_down_never_reaches_odown() {
    let (master, _r1, _r2) = topology();
    let mut trio = Trio::start("group-quorum3", master.port, 3);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    trio.kill(0);
    let events: Vec<Events> = trio.running().map(Events::subscribe).collect();
    master.signal("KILL");
    // Both survivors see the master down, but 2 reports never make a quorum of 3.
    assert!(
        wait_until(Duration::from_secs(10), || events.iter().all(|e| e.count("+sdown master mymaster") == 1)),
        "the survivors should judge the master subjectively down"
    );
    assert!(
        !wait_until(Duration::from_secs(5), || events.iter().any(|e| e.count("+odown") > 0)),
        "ODOWN without a quorum: {:?}",
        events.iter().map(Events::all).collect::<Vec<_>>()
    );
}

#[test]
fn redis_py_with_all_three_sentinels_follows_the_failover_while_one_is_down() {
    use std::process::{Command, Stdio};
    let (master, r1, r2) = topology();
    let mut trio = Trio::start("group-py", master.port, 2);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    let ports: Vec<String> = trio.running().map(|s| s.port.to_string()).collect();
    trio.kill(0); // the first sentinel in the client's list is down
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/sentinel_writer.py");
    let mut writer = Command::new("python3")
        .args([script, &ports.join(","), "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with redis-py (scripts/test.sh installs it)");
    // The fault comes once the client has found the master and written for a while: on a loaded
    // machine starting Python and importing redis-py can take seconds (CI killed the master
    // before the client's first discovery, which then found it down).
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::io::BufReader::new(writer.stdout.take().expect("stdout"));
    let collect = std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in reader.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(30));
    assert!(first.as_ref().is_ok_and(|l| l.starts_with("master:")), "the client found no master: {first:?}");
    std::thread::sleep(Duration::from_secs(2)); // the workload runs for a while before the fault
    master.signal("KILL");
    let out = writer.wait_with_output().expect("writer finished");
    collect.join().expect("stdout reader");
    let stdout: String = lines.try_iter().map(|l| l + "\n").collect();
    assert!(out.status.success(), "writer failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("a summary line");
    let words: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(words[0], "ok", "{last}");
    let new_port = last.rsplit(' ').next().and_then(|p| p.trim_end_matches(')').parse::<u16>().ok()).expect("port");
    assert!(new_port == r1.port || new_port == r2.port, "{last}");
    // The last acknowledged write (k<ok-1>) is on the new master: the client kept writing
    // across the failover (redis-py's own retries may hide the switch entirely: errors 0).
    let ok: i64 = words[1].parse().expect("ok count");
    let new = if new_port == r1.port { &r1 } else { &r2 };
    let last_write: Option<i64> = redis::cmd("GET").arg(format!("k{}", ok - 1)).query(&mut new.conn()).expect("get");
    assert_eq!(last_write, Some(ok - 1), "the last acknowledged write is on the new master: {last}");
    eprintln!("redis-py through the group: {last}");
}

fn group_members(s: &Node) -> Option<usize> {
    let info: String = redis::cmd("INFO").arg("sentinel").query(&mut s.redis().get_connection().ok()?).ok()?;
    info.lines().find_map(|l| l.strip_prefix("sentinel_group_members:")).and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_sentinel_joins_the_group_and_another_leaves_at_run_time() {
    let (master, r1, r2) = topology();
    let mut trio = Trio::start("group-members", master.port, 2);
    assert!(wait_until(Duration::from_secs(20), || trio.settled(2)), "the group did not settle");
    assert!(wait_until(Duration::from_secs(10), || trio.leader().is_some()), "no leader");
    let leader = trio.leader().expect("leader");

    // A fourth sentinel starts with --join and is added on the leader.
    let g4 = free_port();
    let dir4 = sentinel_dir("group-members-4");
    let mut args: Vec<String> =
        vec!["--down-after-ms".into(), "1000".into(), "--grpc-port".into(), g4.to_string(), "--join".into()];
    for j in 0..3 {
        args.extend(["--peer".into(), trio.grpc_addr(j)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fourth = start_sentinel(&dir4, master.port, 2, &args);
    let _logs = LogsOnPanic(vec![&fourth]);
    let ok: String = redis::cmd("SENTINEL")
        .arg("ADD-MEMBER")
        .arg(format!("127.0.0.1:{g4}"))
        .query(&mut trio.get(leader).conn())
        .expect("add-member");
    assert_eq!(ok, "OK");
    assert!(
        wait_until(Duration::from_secs(20), || group_members(&fourth) == Some(4)
            && trio.running().all(|s| group_members(s) == Some(4))
            && Trio::field(&fourth, "num-slaves").as_deref() == Some("2")),
        "the fourth sentinel did not join and learn the master"
    );
    // A follower refuses membership changes.
    let follower = (0..3).find(|i| *i != leader).expect("follower");
    let refused = redis::cmd("SENTINEL")
        .arg("REMOVE-MEMBER")
        .arg(trio.grpc_addr(follower))
        .query::<String>(&mut trio.get(follower).conn())
        .expect_err("not the leader");
    assert!(vigil_tests::err_text(&refused).contains("does not lead"), "{refused}");

    // The follower leaves the group, then dies: the remaining three still fail over (quorum 2).
    let ok: String = redis::cmd("SENTINEL")
        .arg("REMOVE-MEMBER")
        .arg(trio.grpc_addr(follower))
        .query(&mut trio.get(leader).conn())
        .expect("remove-member");
    assert_eq!(ok, "OK");
    assert!(
        wait_until(Duration::from_secs(10), || group_members(trio.get(leader)) == Some(3)
            && group_members(&fourth) == Some(3)),
        "the member was not removed"
    );
    trio.kill(follower);
    master.signal("KILL");
    let replicas = [r1.port.to_string(), r2.port.to_string()];
    assert!(
        wait_until(Duration::from_secs(30), || trio
            .running()
            .chain(std::iter::once(&fourth))
            .all(|s| addr_of(s).is_some_and(|(_, p)| replicas.contains(&p)))),
        "the group of three did not fail over"
    );
    let _ = std::fs::remove_dir_all(&dir4);
}
