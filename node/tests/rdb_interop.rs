//! RDB interoperability with Debian's redis-server 7.0, in both directions:
//! a payload we write is loaded by redis-server, and a dump redis-server writes is read by us.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_node::rdb::{self, Item, Writer};
use vigil_proto::{Client, Frame};

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-rdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

async fn start_redis(dir: &Path, dbfilename: &str) -> (Redis, Client) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--dir", dir.to_str().expect("utf8 path"), "--dbfilename", dbfilename])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs it)");
    let pid = child.id();
    let redis = Redis { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Check that the server answering is this redis-server (its process id): another test
        // may have taken the port between free_port() and the bind.
        if let Ok(mut c) = Client::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await
            && c.cmd(&["INFO", "server"]).await.ok().and_then(|f| {
                f.as_bytes().map(|b| String::from_utf8_lossy(b).contains(&format!("process_id:{pid}\r\n")))
            }) == Some(true)
        {
            return (redis, c);
        }
        assert!(Instant::now() < deadline, "redis-server on {} did not start", redis.port);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bulk(b: &[u8]) -> Frame {
    Frame::bulk(b)
}

#[tokio::test]
async fn redis_server_loads_what_we_write() {
    let dir = temp_dir("ours");
    let expire_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis()
        as i64
        + 3_600_000;
    let big = vec![b'z'; 70_000];
    let file = std::fs::File::create(dir.join("ours.rdb")).expect("create");
    let mut w = Writer::new(std::io::BufWriter::new(file)).expect("write");
    w.aux("redis-ver", b"7.0.15").expect("write");
    w.aux("redis-bits", b"64").expect("write");
    w.select_db(0, 3, 1).expect("write");
    w.string_entry(b"plain", b"value", None).expect("write");
    w.string_entry(b"bin\x00key", b"\x00\xff\r\n", None).expect("write");
    w.string_entry(b"ttl", b"soon", Some(expire_at)).expect("write");
    w.select_db(5, 1, 0).expect("write");
    w.string_entry(b"big", &big, None).expect("write");
    let (buf, _) = w.finish().expect("write");
    buf.into_inner().expect("flush").sync_all().expect("sync");

    let (_redis, mut c) = start_redis(&dir, "ours.rdb").await;
    assert_eq!(c.cmd(&["DBSIZE"]).await.expect("dbsize"), Frame::Integer(3));
    assert_eq!(c.cmd(&["GET", "plain"]).await.expect("get"), bulk(b"value"));
    assert_eq!(c.cmd(&[&b"GET"[..], b"bin\x00key"]).await.expect("get"), bulk(b"\x00\xff\r\n"));
    match c.cmd(&["PEXPIRETIME", "ttl"]).await.expect("pexpiretime") {
        Frame::Integer(ms) => assert_eq!(ms, expire_at),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["SELECT", "5"]).await.expect("select"), Frame::simple("OK"));
    assert_eq!(c.cmd(&["STRLEN", "big"]).await.expect("strlen"), Frame::Integer(70_000));
}

#[tokio::test]
async fn we_read_what_redis_server_writes() {
    let dir = temp_dir("theirs");
    let (_redis, mut c) = start_redis(&dir, "dump.rdb").await;
    let compressible = "abc".repeat(400);
    for (k, v) in
        [("int8", "-5"), ("int16", "300"), ("int32", "70000"), ("text", "hello world"), ("lzf", compressible.as_str())]
    {
        assert_eq!(c.cmd(&["SET", k, v]).await.expect("set"), Frame::simple("OK"));
    }
    c.cmd_ok(&["SET", "ttl", "x", "PXAT", "4102444800000"]).await.expect("set");
    c.cmd_ok(&["SELECT", "2"]).await.expect("select");
    c.cmd_ok(&["SET", "other-db", "2"]).await.expect("set");
    c.cmd_ok(&["SAVE"]).await.expect("save");

    let payload = std::fs::read(dir.join("dump.rdb")).expect("dump written");
    // The 1,200-byte value can only fit if redis-server stored it LZF-compressed: the LZF path is exercised.
    assert!(payload.len() < compressible.len(), "dump of {} bytes", payload.len());
    let mut db = 0;
    let mut got = std::collections::BTreeMap::new();
    let mut aux = Vec::new();
    rdb::read(&payload, |item| match item {
        Item::Aux(k, _) => aux.push(String::from_utf8_lossy(&k).into_owned()),
        Item::SelectDb(n) => db = n,
        Item::String { key, value, expire_ms } => {
            got.insert(
                (db, String::from_utf8(key).expect("utf8")),
                (String::from_utf8(value).expect("utf8"), expire_ms),
            );
        }
    })
    .expect("redis-server's dump reads cleanly");
    assert!(aux.contains(&"redis-ver".to_string()), "aux fields: {aux:?}");
    let expect = |db: usize, k: &str, v: &str, ttl: Option<i64>| ((db, k.to_string()), (v.to_string(), ttl));
    let want: std::collections::BTreeMap<_, _> = [
        expect(0, "int8", "-5", None),
        expect(0, "int16", "300", None),
        expect(0, "int32", "70000", None),
        expect(0, "text", "hello world", None),
        expect(0, "lzf", &compressible, None),
        expect(0, "ttl", "x", Some(4102444800000)),
        expect(2, "other-db", "2", None),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}
