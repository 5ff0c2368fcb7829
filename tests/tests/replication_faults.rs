//! Replication faults, driven by a fake master that speaks the protocol from this test:
//! garbage in the stream, a link cut in the middle of the snapshot, a master that comes back
//! with a new history.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vigil_tests::{Node, q, wait_until};

/// The 18-byte empty RDB Redis 7 writes.
const EMPTY_RDB: &[u8] = b"REDIS0010\xff\xa9\xfd\x37\xfe\x89\xa7\x7e\xeb";

fn info_field(c: &mut redis::Connection, field: &str) -> Option<String> {
    let text: String = q(c, &["INFO", "replication"]);
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

/// Reads one RESP request (array of bulk strings) from the replica.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut buf = vec![0u8; len + 2];
        r.read_exact(&mut buf).ok()?;
        args.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    Some(args)
}

/// Accepts replicas forever; for each, answers the handshake and then runs `script`. Every
/// PSYNC request is reported on the channel.
fn fake_master(script: fn(&mut TcpStream)) -> (u16, mpsc::Receiver<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                while let Some(req) = read_request(&mut r) {
                    let cmd = req[0].to_ascii_uppercase();
                    if cmd == "PING" {
                        let _ = s.write_all(b"+PONG\r\n");
                    } else if cmd == "REPLCONF" {
                        let _ = s.write_all(b"+OK\r\n");
                    } else if cmd == "PSYNC" {
                        let _ = tx.send(req);
                        script(&mut s);
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

fn full_resync_then_garbage(s: &mut TcpStream) {
    let id = "a".repeat(40);
    let _ = s.write_all(format!("+FULLRESYNC {id} 0\r\n${}\r\n", EMPTY_RDB.len()).as_bytes());
    let _ = s.write_all(EMPTY_RDB);
    // An inline line from a master is a protocol desync: the replica must drop the link.
    let _ = s.write_all(b"this is not RESP\r\n");
    std::thread::sleep(Duration::from_secs(30)); // keep the socket open: the replica must close it
}

fn cut_in_the_middle_of_the_snapshot(s: &mut TcpStream) {
    let id = "b".repeat(40);
    let _ = s.write_all(format!("+FULLRESYNC {id} 0\r\n$100000\r\n").as_bytes());
    let _ = s.write_all(&EMPTY_RDB[..9]);
    let _ = s.write_all(&[0u8; 1000]);
    // Dropping the stream closes the link mid-transfer.
}

#[test]
fn garbage_from_the_master_drops_the_link_and_the_replica_retries() {
    let (port, psyncs) = fake_master(full_resync_then_garbage);
    let node = Node::start(&[]);
    let mut c = node.conn();
    let _: () = q(&mut c, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    let first = psyncs.recv_timeout(Duration::from_secs(10)).expect("first PSYNC");
    assert_eq!(first[0].to_ascii_uppercase(), "PSYNC");
    // It reconnects and asks to continue the history it just received.
    let second = psyncs.recv_timeout(Duration::from_secs(10)).expect("the replica retries");
    assert_eq!(second[1], "a".repeat(40));
    assert_eq!(second[2], "1");
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}

#[test]
fn a_snapshot_cut_in_the_middle_leaves_the_old_data_intact() {
    let (port, psyncs) = fake_master(cut_in_the_middle_of_the_snapshot);
    let node = Node::start(&[]);
    let mut c = node.conn();
    for i in 0..100 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "old"]);
    }
    let _: () = q(&mut c, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    psyncs.recv_timeout(Duration::from_secs(10)).expect("PSYNC");
    // The retry proves the failed transfer was noticed and handled.
    psyncs.recv_timeout(Duration::from_secs(10)).expect("the replica retries");
    let n: i64 = q(&mut c, &["DBSIZE"]);
    assert_eq!(n, 100, "never a half-loaded dataset");
    let v: String = q(&mut c, &["GET", "k42"]);
    assert_eq!(v, "old");
    assert_eq!(info_field(&mut c, "master_link_status").as_deref(), Some("down"));
}

fn node_on(port: u16) -> Node {
    let mut cmd = Command::new(vigil_tests::bin("vigil-node"));
    cmd.args(["--port", &port.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped());
    Node::spawn(cmd)
}

#[test]
fn a_master_restarted_with_a_new_history_forces_a_full_sync() {
    let master = Node::start(&[]);
    let port = master.port;
    let replica = Node::start(&["--set", &format!("replicaof=127.0.0.1 {port}")]);
    let mut m = master.conn();
    let mut r = replica.conn();
    let _: () = q(&mut m, &["SET", "from-first-life", "1"]);
    assert!(wait_until(Duration::from_secs(10), || q::<Option<String>>(&mut r, &["GET", "from-first-life"]).is_some()));
    let old_id = info_field(&mut r, "master_replid").expect("replid");
    drop(m);
    drop(master);

    // Same address, new process: a new replication id and a different dataset.
    let again = node_on(port);
    let mut m = again.conn();
    let _: () = q(&mut m, &["SET", "from-second-life", "2"]);
    assert!(wait_until(Duration::from_secs(15), || {
        q::<Option<String>>(&mut r, &["GET", "from-second-life"]).is_some()
            && info_field(&mut r, "master_link_status").as_deref() == Some("up")
    }));
    let gone: Option<String> = q(&mut r, &["GET", "from-first-life"]);
    assert_eq!(gone, None, "a full sync replaced the old dataset");
    assert_ne!(info_field(&mut r, "master_replid").expect("replid"), old_id);
    let stats: String = q(&mut m, &["INFO", "stats"]);
    assert!(stats.contains("sync_full:1"), "{stats}");
    assert!(stats.contains("sync_partial_err:1"), "the replica asked for its old history first: {stats}");
}
