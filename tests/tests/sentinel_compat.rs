//! Differential test against Debian's Redis Sentinel (7.0): the real `redis-server --sentinel` and
//! `vigil-sentinel` monitor the same data node, get the same commands over raw sockets, and must
//! send back the same bytes. Mostly bad input (arity, unknown masters, bad numbers, unknown
//! options), plus good input whose reply is deterministic (no ids, no times).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::{LogsOnPanic, RedisServer, free_port, sentinel_dir, start_sentinel, wait_until};

/// How long one command may take before its reply is given up on.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The commands sent to both sentinels, in this order, on one connection each; `{port}` is the
/// port of the data node that sentinel watches (each has its own; in replies it is written back
/// as `{port}` before comparing). Some change state (the successful SET), identically on both
/// sides.
const COMMANDS: &[&[&str]] = &[
    // The subcommand itself.
    &["SENTINEL"],
    &["SENTINEL", "foo"],
    &["SENTINEL", "NOSUCHSUB"],
    &["SENTINEL", "HELP"],
    &["SENTINEL", "HELP", "x"],
    // MONITOR: none of these may succeed.
    &["SENTINEL", "MONITOR"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "{port}"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "{port}", "0"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "{port}", "abc"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "notaport", "1"],
    &["SENTINEL", "MONITOR", "x", "nohost.invalid", "7379", "1"],
    &["SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "{port}", "1"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "70000", "1"],
    &["SENTINEL", "MONITOR", "x", "127.0.0.1", "-1", "1"],
    // REMOVE.
    &["SENTINEL", "REMOVE"],
    &["SENTINEL", "REMOVE", "nope"],
    // SET: only the last one succeeds.
    &["SENTINEL", "SET"],
    &["SENTINEL", "SET", "mymaster"],
    &["SENTINEL", "SET", "mymaster", "quorum"],
    &["SENTINEL", "SET", "nope", "quorum", "1"],
    &["SENTINEL", "SET", "mymaster", "quorum", "0"],
    &["SENTINEL", "SET", "mymaster", "quorum", "abc"],
    &["SENTINEL", "SET", "mymaster", "foo", "1"],
    &["SENTINEL", "SET", "mymaster", "down-after-milliseconds", "-5"],
    &["SENTINEL", "SET", "mymaster", "parallel-syncs", "0"],
    &["SENTINEL", "SET", "mymaster", "failover-timeout", "x"],
    &["SENTINEL", "SET", "mymaster", "master-reboot-down-after-period", "-1"],
    &["SENTINEL", "SET", "mymaster", "notification-script", "/bin/true"],
    &["SENTINEL", "SET", "mymaster", "down-after-milliseconds", "6000"],
    // RESET.
    &["SENTINEL", "RESET"],
    &["SENTINEL", "RESET", "a", "b"],
    &["SENTINEL", "RESET", "nomatch"],
    // Queries.
    &["SENTINEL", "MASTERS", "x"],
    &["SENTINEL", "MYID", "x"],
    &["SENTINEL", "MASTER"],
    &["SENTINEL", "MASTER", "a", "b"],
    &["SENTINEL", "MASTER", "nope"],
    &["SENTINEL", "REPLICAS"],
    &["SENTINEL", "REPLICAS", "nope"],
    &["SENTINEL", "SLAVES", "nope"],
    &["SENTINEL", "SENTINELS", "nope"],
    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME"],
    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "a", "b"],
    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
    // CONFIG: none of the SETs may succeed.
    &["SENTINEL", "CONFIG"],
    &["SENTINEL", "CONFIG", "GET"],
    &["SENTINEL", "CONFIG", "SET"],
    &["SENTINEL", "CONFIG", "SET", "foo", "1"],
    &["SENTINEL", "CONFIG", "SET", "announce-port", "abc"],
    &["SENTINEL", "CONFIG", "SET", "announce-port"],
    &["SENTINEL", "CONFIG", "SET", "announce-port", "99999"],
    &["SENTINEL", "CONFIG", "SET", "resolve-hostnames", "maybe"],
    &["SENTINEL", "CONFIG", "foo"],
    &["SENTINEL", "CONFIG", "GET", "announce-port"],
    &["SENTINEL", "CONFIG", "GET", "resolve-*"],
    // IS-MASTER-DOWN-BY-ADDR ("*": no vote, so no leader and epoch 0).
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "{port}", "0", "*"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "{port}", "abc", "*"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "abc", "0", "*"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "1.2.3.4", "1", "0", "*"],
    // INFO-CACHE.
    &["SENTINEL", "INFO-CACHE"],
    &["SENTINEL", "INFO-CACHE", "nope"],
    // DEBUG: none of the sets may succeed, so the timer map below holds the defaults.
    &["SENTINEL", "DEBUG", "foo", "1"],
    &["SENTINEL", "DEBUG", "info-period", "0"],
    &["SENTINEL", "DEBUG", "info-period"],
    &["SENTINEL", "DEBUG", "ping-period", "abc"],
    &["SENTINEL", "DEBUG"],
    // SIMULATE-FAILURE.
    &["SENTINEL", "SIMULATE-FAILURE", "help"],
    &["SENTINEL", "SIMULATE-FAILURE", "foo"],
    &["SENTINEL", "SIMULATE-FAILURE"],
    // The rest of the subcommands. Quorum 2 with a single sentinel: NOQUORUM.
    &["SENTINEL", "FLUSHCONFIG", "x"],
    &["SENTINEL", "FAILOVER"],
    &["SENTINEL", "FAILOVER", "nope"],
    &["SENTINEL", "CKQUORUM"],
    &["SENTINEL", "CKQUORUM", "nope"],
    &["SENTINEL", "CKQUORUM", "mymaster"],
    &["SENTINEL", "PENDING-SCRIPTS", "x"],
    &["SENTINEL", "PENDING-SCRIPTS"],
    // Connection level.
    &["PING", "a", "b"],
    &["PUBLISH", "foo", "bar"],
    &["AUTH", "x"],
    &["AUTH", "a", "b"],
    &["SAVE"],
    &["REPLICAOF", "no", "one"],
    &["CLIENT", "FOO"],
    &["HELLO", "4"],
    &["ROLE"],
];

/// The RESP multibulk encoding of `args`.
fn multibulk(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The length of the first complete RESP frame at the start of `buf`; `None` while incomplete
/// (or malformed: the read then times out and the bytes so far are reported).
fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let body = line_end + 2;
    let number = || std::str::from_utf8(&buf[1..line_end]).ok()?.parse::<i64>().ok();
    match *buf.first()? {
        b'$' | b'!' | b'=' => {
            let Ok(len) = usize::try_from(number()?) else { return Some(body) }; // null bulk
            let end = body + len + 2;
            (buf.len() >= end).then_some(end)
        }
        kind @ (b'*' | b'~' | b'>' | b'%') => {
            let Ok(count) = usize::try_from(number()?) else { return Some(body) }; // null array
            let elements = if kind == b'%' { count * 2 } else { count };
            let mut pos = body;
            for _ in 0..elements {
                pos += frame_len(&buf[pos..])?;
            }
            Some(pos)
        }
        _ => Some(body),
    }
}

/// Raw bytes made readable: printable ASCII as is, `\r`, `\n`, `\\` and `\xNN` otherwise.
/// `reply` with every occurrence of `port` written as `{port}`.
fn normalize(reply: Vec<u8>, port: &str) -> Vec<u8> {
    String::from_utf8_lossy(&reply).replace(port, "{port}").into_bytes()
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// A raw connection to one sentinel.
struct RawConn {
    port: u16,
    stream: TcpStream,
}

impl RawConn {
    fn connect(port: u16) -> std::io::Result<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(RawConn { port, stream })
    }

    /// Sends `args` then a PING, and returns every byte that came back before the `+PONG\r\n`
    /// frame answering that PING. If the PONG does not come (timeout, closed connection), the
    /// bytes so far are returned with a marker, and the connection is replaced by a new one.
    fn exchange(&mut self, args: &[&str]) -> Vec<u8> {
        let mut request = multibulk(args);
        request.extend_from_slice(&multibulk(&["PING"]));
        let mut buf = Vec::new();
        let failure = match self.stream.write_all(&request) {
            Ok(()) => match self.read_until_pong(&mut buf) {
                Ok(reply_len) => {
                    buf.truncate(reply_len);
                    return buf;
                }
                Err(e) => e,
            },
            Err(e) => format!("write failed: {e}"),
        };
        buf.extend_from_slice(format!("<no PONG: {failure}>").as_bytes());
        if let Ok(fresh) = RawConn::connect(self.port) {
            *self = fresh;
        }
        buf
    }

    /// Reads frames into `buf` until one is `+PONG\r\n`; returns where that frame starts.
    fn read_until_pong(&mut self, buf: &mut Vec<u8>) -> Result<usize, String> {
        let mut pos = 0;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            while let Some(len) = frame_len(&buf[pos..]) {
                if &buf[pos..pos + len] == b"+PONG\r\n" {
                    return Ok(pos);
                }
                pos += len;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed".to_string()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }
}

/// Debian's Redis Sentinel (`redis-server <conf> --sentinel`) with its config file in a scratch
/// folder; killed and cleaned up on drop (its log is printed if the test is failing).
struct RedisSentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisSentinel {
    /// Starts it monitoring `mymaster` at `127.0.0.1:<master_port>` with quorum 2, and waits until
    /// it answers PING. A port picked by binding and releasing can be taken before the sentinel
    /// binds it: the one answering must be ours (its process id), else another port is tried.
    fn start(master_port: u16) -> RedisSentinel {
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("vigil-redis-sentinel-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let conf = dir.join("sentinel.conf");
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds mymaster 5000\n",
                dir.display()
            );
            std::fs::write(&conf, text).expect("write sentinel.conf");
            let log = File::create(dir.join("sentinel.log")).expect("log file");
            let child = Command::new("/usr/bin/redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("redis-server is installed");
            let pid = child.id();
            let mut s = RedisSentinel { child, port, dir };
            let ours = wait_until(Duration::from_secs(10), || {
                if let Ok(Some(_)) = s.child.try_wait() {
                    return true; // exited (port taken?): stop waiting, retry below
                }
                let Ok(mut c) = RawConn::connect(port) else { return false };
                c.exchange(&["INFO", "server"])
                    .windows(format!("process_id:{pid}\r\n").len())
                    .any(|w| w == format!("process_id:{pid}\r\n").as_bytes())
            });
            if ours && matches!(s.child.try_wait(), Ok(None)) {
                return s;
            }
            drop(s);
        }
        panic!("redis-server --sentinel did not start on a free port after 5 attempts");
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default();
            eprintln!("--- log of redis-server --sentinel on port {} ---\n{log}", self.port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sentinel_replies_are_byte_identical_to_redis_sentinel() {
    // Each sentinel watches its own data node: on a shared one they would find each other
    // through their hellos and CKQUORUM would count two sentinels.
    let (master_r, master_v) = (RedisServer::start(&[]), RedisServer::start(&[]));
    let redis_sentinel = RedisSentinel::start(master_r.port);
    let vigil_dir = sentinel_dir("compat");
    let vigil = start_sentinel(&vigil_dir, master_v.port, 2, &["--down-after-ms", "5000"]);
    let _logs = LogsOnPanic(vec![&vigil]);

    let mut redis_conn = RawConn::connect(redis_sentinel.port).expect("connect to redis sentinel");
    let mut vigil_conn = RawConn::connect(vigil.port).expect("connect to vigil-sentinel");
    let (port_r, port_v) = (master_r.port.to_string(), master_v.port.to_string());
    let started = Instant::now();
    let mut mismatches = Vec::new();
    for template in COMMANDS {
        let side = |port: &str| template.iter().map(|a| a.replace("{port}", port)).collect::<Vec<String>>();
        let (args, args_v) = (side(&port_r), side(&port_v));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let args_v: Vec<&str> = args_v.iter().map(String::as_str).collect();
        let from_redis = normalize(redis_conn.exchange(&args), &port_r);
        let from_vigil = normalize(vigil_conn.exchange(&args_v), &port_v);
        eprintln!("{} -> {}", args.join(" "), escape(&from_redis));
        if from_redis != from_vigil {
            mismatches.push(format!(
                "{}\n    redis: {}\n    vigil: {}",
                args.join(" "),
                escape(&from_redis),
                escape(&from_vigil)
            ));
        }
    }
    let elapsed = started.elapsed();
    // Two different sentinels answered: their ids differ.
    let (redis_id, vigil_id) = (redis_conn.exchange(&["SENTINEL", "MYID"]), vigil_conn.exchange(&["SENTINEL", "MYID"]));
    assert!(redis_id.starts_with(b"$40\r\n"), "redis MYID: {}", escape(&redis_id));
    assert!(vigil_id.starts_with(b"$40\r\n"), "vigil MYID: {}", escape(&vigil_id));
    assert_ne!(redis_id, vigil_id, "both connections reached the same sentinel");
    let _ = std::fs::remove_dir_all(&vigil_dir);
    assert!(
        mismatches.is_empty(),
        "{} of {} commands got different replies (in {elapsed:?}):\n{}",
        mismatches.len(),
        COMMANDS.len(),
        mismatches.join("\n")
    );
    // The master cannot have been judged down meanwhile (down-after is 5 s on both sides).
    assert!(elapsed < Duration::from_secs(4), "the comparison took {elapsed:?}");
}
