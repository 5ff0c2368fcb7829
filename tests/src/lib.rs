//! Harness for system tests: start the real binaries on loopback, talk to them with real clients.
//!
//! A [`Node`] is a `vigil-node` process started on port 0; the harness reads the port it bound
//! from its log, so tests never race for ports. The process is killed when the `Node` drops.
//! Binaries are taken from the cargo target directory of the running test (build them first:
//! the README's test command does).

pub mod proxy;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of a workspace binary next to the running test executable (`target/<profile>/NAME`).
pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("VIGIL_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(p.exists(), "{} not found: build the binaries first (cargo build --workspace --bins)", p.display());
    p
}

/// Runs `vigil drill <scenario> --json <args>` (the target: `--dir D` or `--compose P`, and
/// options); panics with its output unless it succeeded. Returns the drill's JSON line.
pub fn drill(scenario: &str, args: &[&str]) -> String {
    let out = Command::new(bin("vigil")).args(["drill", scenario, "--json"]).args(args).output().expect("vigil drill");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "drill {scenario} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The number after `"key": ` in a drill's JSON line; panics when it is missing or `null`
/// (so `drill_num(r, "rejoin_ms") >= 0` asserts that the node did rejoin).
pub fn drill_num(json: &str, key: &str) -> i64 {
    let at = json.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("{key} missing: {json}"));
    let rest = &json[at + key.len() + 4..];
    rest.split([',', '}']).next().and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{key}: {json}"))
}

/// A running `vigil-node`.
pub struct Node {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Everything it logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts `vigil-node --port 0` plus `args`, and waits until it accepts connections.
    pub fn start(args: &[&str]) -> Node {
        let mut cmd = Command::new(bin("vigil-node"));
        cmd.args(["--port", "0"]).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        Self::spawn(cmd)
    }

    /// Starts `vigil-node` with exactly these arguments (which must make it listen on port 0).
    pub fn spawn(mut cmd: Command) -> Node {
        let mut child = cmd.env("NO_COLOR", "1").spawn().expect("spawn vigil-node");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        for pipe in [Box::new(stdout) as Box<dyn std::io::Read + Send>, Box::new(stderr)] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if line.contains("ready to accept connections") {
                        let port = line
                            .split_whitespace()
                            .find_map(|w| w.strip_prefix("port=").and_then(|p| p.parse::<u16>().ok()));
                        let _ = tx.send(port);
                    }
                    log.lock().expect("log lock").push(line);
                }
            });
        }
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(p)) => p,
            _ => {
                let _ = child.kill();
                panic!("vigil-node did not start; log:\n{}", log.lock().expect("log").join("\n"));
            }
        };
        Node { child, port, log }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:<port>/`, for the `redis` crate.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A `redis` crate client.
    pub fn redis(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("valid url")
    }

    /// A synchronous `redis` crate connection.
    pub fn conn(&self) -> redis::Connection {
        self.redis().get_connection().expect("connect")
    }

    /// A raw RESP client from `vigil_proto`, for byte-level checks.
    pub async fn raw(&self) -> vigil_proto::Client {
        vigil_proto::Client::connect(&self.addr(), Duration::from_secs(10)).await.expect("connect")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit on its own, up to `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id();
        let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
        if sig == "STOP" {
            // `kill` returns once the signal is queued; a thread running on the other core may
            // still run for a moment (CI saw a stopped replica acknowledge a later write). Wait
            // until the kernel reports every thread of the process stopped.
            let state_t = |path: std::path::PathBuf| {
                std::fs::read_to_string(path).ok().is_some_and(|st| {
                    st.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|s| s == "T")
                })
            };
            let stopped = || {
                std::fs::read_dir(format!("/proc/{pid}/task"))
                    .map(|tasks| tasks.flatten().all(|t| state_t(t.path().join("stat"))))
                    .unwrap_or(true)
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !stopped() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `redis-cli` with these arguments against `node`; returns stdout.
pub fn redis_cli(node: &Node, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &node.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is installed (the test command installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs one command on a `redis` crate connection and decodes the reply; panics on any error.
pub fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs one command that must fail with a server error; returns the error's full text as sent by
/// the server (`CODE message`, e.g. `ERR syntax error`).
pub fn q_err(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => err_text(&e),
    }
}

/// The full text of a server error (`CODE message`).
pub fn err_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => panic!("not a server error: {e}"),
    }
}

/// A blocking wrapper around [`vigil_proto::Client`] for byte-level checks from synchronous tests.
pub struct RawSync {
    rt: tokio::runtime::Runtime,
    /// The wrapped async client.
    pub client: vigil_proto::Client,
}

impl RawSync {
    /// Connects to `node`.
    pub fn connect(node: &Node) -> RawSync {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = rt.block_on(node.raw());
        RawSync { rt, client }
    }

    /// Sends one command and returns its reply frame (errors are frames too).
    pub fn cmd(&mut self, args: &[&str]) -> vigil_proto::Frame {
        self.rt.block_on(self.client.cmd(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Sends one command and returns its error text; panics if the reply is not an error.
    pub fn err(&mut self, args: &[&str]) -> String {
        let f = self.cmd(args);
        f.as_error().unwrap_or_else(|| panic!("{args:?} should fail, got {f:?}"))
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.rt.block_on(self.client.send_raw(bytes)).expect("send_raw");
    }

    /// The next frame off the wire (push frames included).
    pub fn read_frame(&mut self) -> Result<vigil_proto::Frame, vigil_proto::ClientError> {
        self.rt.block_on(self.client.read_frame())
    }
}

impl Node {
    /// A blocking raw RESP client.
    pub fn raw_sync(&self) -> RawSync {
        RawSync::connect(self)
    }
}

/// Waits (up to 5 s) for the server to close `c`; panics if a frame arrives or it stays open.
pub async fn assert_closed(c: &mut vigil_proto::Client) {
    use vigil_proto::ClientError;
    c.set_timeout(Some(Duration::from_secs(5)));
    match c.read_frame().await {
        Err(ClientError::Closed) => {}
        Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("connection should be closed, got {other:?}"),
    }
}

/// One key of a [`digest`]: database, key, value, and whether it has a TTL.
pub type DigestEntry = (u8, Vec<u8>, Vec<u8>, bool);

/// Everything a node holds, for comparing a master with its replicas: per database 0..15, every
/// key `SCAN` finds with its `GET` value and whether `PTTL` is positive, sorted. Keys that vanish
/// between SCAN and GET are skipped. Leaves the connection on database 0.
pub fn digest(c: &mut redis::Connection) -> Vec<DigestEntry> {
    let mut out = Vec::new();
    for db in 0..16u8 {
        q::<()>(c, &["SELECT", &db.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        loop {
            let (next, batch): (String, Vec<Vec<u8>>) =
                redis::cmd("SCAN").arg(&cursor).arg("COUNT").arg(1000).query(c).expect("SCAN");
            keys.extend(batch);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        for key in keys {
            let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(c).expect("GET");
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(c).expect("PTTL");
            if let Some(v) = value {
                out.push((db, key, v, pttl > 0));
            }
        }
    }
    q::<()>(c, &["SELECT", "0"]);
    out.sort();
    out
}

/// One field of `INFO <section>` (`name:value` lines), or `None` if absent.
pub fn info_field(c: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let text: String = q(c, &["INFO", section]);
    let prefix = format!("{name}:");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim_end().to_string())
}

/// Like [`info_field`], parsed as an integer; panics if absent or not a number.
pub fn info_int(c: &mut redis::Connection, section: &str, name: &str) -> i64 {
    let v = info_field(c, section, name).unwrap_or_else(|| panic!("INFO {section} has no {name}"));
    v.parse().unwrap_or_else(|_| panic!("INFO {section} {name}:{v} is not an integer"))
}

/// A free loopback port: bound to port 0, then released.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A real `redis-server` (Debian's, 7.0) on a free port with a scratch directory; killed and
/// cleaned up on drop.
pub struct RedisServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` without persistence, with diskless sync without delay, plus `args`;
    /// waits until it answers PING.
    pub fn start(args: &[&str]) -> RedisServer {
        // A port picked by binding and releasing can be taken by another test before
        // redis-server binds it: check that the server answering is ours (its process id), and
        // try another port if not.
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("vigil-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--repl-diskless-sync-delay", "0", "--dir"])
                .arg(&dir)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed");
            let pid = child.id();
            let mut s = RedisServer { child, port, dir };
            let ours = wait_until(Duration::from_secs(10), || {
                if let Ok(Some(_)) = s.child.try_wait() {
                    return true; // exited (port taken): stop waiting, retry below
                }
                s.redis().get_connection().is_ok_and(|mut c| {
                    redis::cmd("INFO")
                        .arg("server")
                        .query::<String>(&mut c)
                        .is_ok_and(|t| t.contains(&format!("process_id:{pid}\r\n")))
                })
            });
            if ours && matches!(s.child.try_wait(), Ok(None)) {
                return s;
            }
            drop(s);
        }
        panic!("redis-server did not start on a free port after 5 attempts");
    }

    /// A `redis` crate client.
    pub fn redis(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("valid url")
    }

    /// A synchronous `redis` crate connection.
    pub fn conn(&self) -> redis::Connection {
        self.redis().get_connection().expect("connect")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Prints the logs of these nodes if the test panics while it is alive (bind it after the
/// nodes: `let _logs = LogsOnPanic(vec![&master, &replica]);`).
pub struct LogsOnPanic<'a>(pub Vec<&'a Node>);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.0 {
                let log = n.log.lock().map(|l| l.join("\n")).unwrap_or_default();
                eprintln!("--- log of the node on port {} ---\n{log}", n.port);
            }
        }
    }
}

/// True if `INFO replication` says the link to the master is up.
pub fn link_up(c: &mut redis::Connection) -> bool {
    info_field(c, "replication", "master_link_status").as_deref() == Some("up")
}

/// 4,000 keys in db 0 (every 10th with a TTL) and 1,000 in db 7.
pub fn populate(c: &mut redis::Connection) {
    let mut p = redis::pipe();
    for i in 0..4000 {
        if i % 10 == 0 {
            p.cmd("SET").arg(format!("key:{i}")).arg(format!("value-{i}")).arg("EX").arg(1000).ignore();
        } else {
            p.cmd("SET").arg(format!("key:{i}")).arg(format!("value-{i}")).ignore();
        }
    }
    p.cmd("SELECT").arg(7).ignore();
    for i in 0..1000 {
        p.cmd("SET").arg(format!("seven:{i}")).arg(i.to_string().repeat(i % 50 + 1)).ignore();
    }
    p.cmd("SELECT").arg(0).ignore();
    p.query::<()>(c).expect("populate");
}

/// Starts `vigil-sentinel` on port 0 with its state in `dir`, monitoring `mymaster` at
/// `127.0.0.1:<master_port>` with `quorum`, plus `args` (e.g. `--down-after-ms 1000`).
pub fn start_sentinel(dir: &std::path::Path, master_port: u16, quorum: u32, args: &[&str]) -> Node {
    let mut cmd = Command::new(bin("vigil-sentinel"));
    cmd.args(["--port", "0", "--dir", dir.to_str().expect("utf8 path")])
        .args(["--monitor", "mymaster", "127.0.0.1", &master_port.to_string(), &quorum.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Node::spawn(cmd)
}

/// A fresh scratch folder for a sentinel's state, unique to this test process and `tag`.
pub fn sentinel_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-sentinel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME mymaster` (None if unknown or unreachable).
pub fn sentinel_master_addr(s: &Node) -> Option<(String, String)> {
    let mut c = s.redis().get_connection().ok()?;
    redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg("mymaster").query(&mut c).ok()
}

/// How many replicas the sentinel lists for `mymaster`.
pub fn sentinel_replicas(s: &Node) -> usize {
    let Ok(mut c) = s.redis().get_connection() else { return 0 };
    redis::cmd("SENTINEL").arg("REPLICAS").arg("mymaster").query::<Vec<redis::Value>>(&mut c).map_or(0, |v| v.len())
}

/// A running `vigil up` (free ports, down-after 1000 ms) in `dir`, with the lines it printed up
/// to "ready."; stopped with SIGINT when dropped.
pub struct VigilUp {
    /// The `vigil up` process.
    pub child: Child,
    /// Its output up to and including "ready.".
    pub lines: Vec<String>,
    /// Its data and logs.
    pub dir: PathBuf,
}

impl VigilUp {
    /// Starts it. Tests run several groups at once, and a port picked as free by one may be
    /// taken by another before its process binds it: `vigil up` then exits naming the port, and
    /// this tries again with new ports (three times).
    pub fn start(dir: PathBuf) -> VigilUp {
        let mut last = String::new();
        for _ in 0..3 {
            let _ = std::fs::remove_dir_all(&dir);
            let mut child = Command::new(bin("vigil"))
                .args(["up", "--port", "0", "--sentinel-port", "0", "--down-after-ms", "1000", "--dir"])
                .arg(&dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("vigil up");
            let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
            let mut lines = Vec::new();
            for line in out.by_ref().map_while(Result::ok) {
                let ready = line.starts_with("ready.");
                lines.push(line);
                if ready {
                    // Keep reading, so that `vigil up` never writes into a closed pipe.
                    std::thread::spawn(move || out.for_each(drop));
                    return VigilUp { child, lines, dir };
                }
            }
            let out = child.wait_with_output().expect("vigil up exited");
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("vigil up did not start three times; last error: {last}");
    }
}

impl Drop for VigilUp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
