//! The drill's client side: the writer that logs every acknowledged write, the watchers of the
//! sentinels' events, and the small RESP helpers both use.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_proto::{Client, Frame};

/// The address the drill's client connects from in the local group: not a sentinel's, so a
/// partition from the sentinels leaves it connected. (Containers are reached from the host's
/// address on their network: the system's choice.)
pub(super) static CLIENT_IP: std::sync::OnceLock<Option<IpAddr>> = std::sync::OnceLock::new();

/// An acknowledged write.
pub(super) struct Ack {
    pub(super) at: Duration,
    pub(super) node: String,
}

#[derive(Default)]
pub(super) struct Log {
    pub(super) acks: BTreeMap<u64, Ack>,
    /// (time, sentinel, "channel payload").
    pub(super) events: Vec<(Duration, String, String)>,
    pub(super) phase: String,
}

pub(super) type Shared = Arc<Mutex<Log>>;

pub(super) fn lock(log: &Shared) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn text(f: &Frame) -> String {
    f.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

pub(super) async fn connect(addr: &str, timeout: Duration) -> Option<Client> {
    Client::connect_from(addr, CLIENT_IP.get().copied().flatten(), timeout).await.ok()
}

/// The master's address as the first sentinel that answers tells it.
pub(super) async fn master_of(sentinels: &[String], name: &str) -> Option<String> {
    for s in sentinels {
        let Some(mut c) = connect(s, Duration::from_millis(300)).await else { continue };
        if let Ok(Frame::Array(v)) = c.cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]).await
            && v.len() == 2
        {
            return Some(format!("{}:{}", text(&v[0]), text(&v[1])));
        }
    }
    None
}

pub(super) async fn info(addr: &str, section: &str) -> Option<String> {
    let mut c = connect(addr, Duration::from_millis(500)).await?;
    c.set_timeout(Some(Duration::from_millis(500)));
    c.cmd(&["INFO", section]).await.ok().map(|f| text(&f))
}

fn field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':'))).map(str::trim)
}

/// Is `node` a replica of `master`, with its link up?
pub(super) async fn follows(node: &str, master: &str) -> bool {
    let Some(i) = info(node, "replication").await else { return false };
    let Some((host, port)) = master.rsplit_once(':') else { return false };
    field(&i, "role") == Some("slave")
        && field(&i, "master_host") == Some(host)
        && field(&i, "master_port") == Some(port)
        && field(&i, "master_link_status") == Some("up")
}

/// The client: writes `drill:<n>` one at a time, through discovery.
pub(super) async fn writer(sentinels: Vec<String>, a: WriterArgs, log: Shared) {
    let mut n: u64 = 0;
    let mut conn: Option<(String, Client)> = None;
    while !a.stop.load(std::sync::atomic::Ordering::Relaxed) {
        if conn.is_none() {
            if let Some(addr) = master_of(&sentinels, &a.name).await
                && let Some(mut c) = connect(&addr, Duration::from_millis(300)).await
            {
                c.set_timeout(Some(Duration::from_millis(1500)));
                conn = Some((addr, c));
            } else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let Some((addr, c)) = conn.as_mut() else { continue };
        n += 1;
        let key = format!("drill:{n}");
        let ok = match c.cmd(&["SET", &key, "1"]).await {
            Ok(Frame::Simple(_)) if a.wait == 0 => true,
            Ok(Frame::Simple(_)) => {
                matches!(c.cmd(&["WAIT", &a.wait.to_string(), "1000"]).await, Ok(Frame::Integer(r)) if r >= i64::from(a.wait))
            }
            _ => false,
        };
        if ok {
            lock(&log).acks.insert(n, Ack { at: a.start.elapsed(), node: addr.clone() });
        } else {
            conn = None; // an error, READONLY, NOREPLICAS or a timeout: rediscover
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(super) struct WriterArgs {
    pub(super) name: String,
    pub(super) wait: u32,
    pub(super) start: Instant,
    pub(super) stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Collects one sentinel's events (reconnecting if it goes away).
pub(super) async fn watcher(sentinel: String, label: String, start: Instant, log: Shared) {
    loop {
        if let Some(mut c) = connect(&sentinel, Duration::from_secs(1)).await {
            c.set_timeout(None); // events may be seconds apart
            if c.send(&["PSUBSCRIBE", "*"]).await.is_ok() {
                while let Ok(f) = c.read_frame().await {
                    if let Frame::Array(items) | Frame::Push(items) = f
                        && items.len() == 4
                        && text(&items[0]) == "pmessage"
                    {
                        let e = format!("{} {}", text(&items[2]), text(&items[3]));
                        lock(&log).events.push((start.elapsed(), label.clone(), e));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
