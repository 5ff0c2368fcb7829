//! The two links to one instance, as Redis Sentinel opens them.
//!
//! - The **command link** ([`run`]): connect (AUTH, `CLIENT SETNAME sentinel-<id>-cmd`), PING at
//!   the ping period, INFO at the period the monitor asks for, and `PUBLISH __sentinel__:hello`
//!   every publish period (2 s) with this sentinel's view of the group; everything is reported
//!   to the core task. A PING that gets no reply within a second drops the connection (it is
//!   re-opened at once), so a late reply can never be taken for the answer to a later command.
//! - The **pub/sub link** ([`pubsub`]): `SUBSCRIBE __sentinel__:hello` under the name
//!   `sentinel-<id>-pubsub`. Our own hellos come back on it every 2 s, so a link silent for 6 s is
//!   dead and is re-opened. Hellos from other sentinels are how Redis sentinels find each other;
//!   Vigil's groups use explicit membership instead (see [`crate::group`]): they are logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_proto::{Client, Frame};

use super::Msg;
use crate::core::detect::PingReply;
use crate::core::monitor::Event;

/// Credentials for the data nodes of one group (`auth-user`, `auth-pass`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// ACL user (none: `AUTH <pass>`).
    pub user: Option<String>,
    /// Password (none: no AUTH).
    pub pass: Option<String>,
}

/// Periods a running link follows; the core changes them (faster INFO during a failover,
/// `SENTINEL DEBUG`).
#[derive(Debug)]
pub struct Timing {
    /// INFO period (ms).
    pub info_ms: AtomicU64,
    /// PING period (ms).
    pub ping_ms: AtomicU64,
    /// Hello period (ms).
    pub publish_ms: AtomicU64,
}

/// The channel sentinels announce themselves on.
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// What this sentinel announces about one group; the core keeps it current.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hello {
    /// `announce-ip` ("" = the link's local address).
    pub announce_ip: String,
    /// `announce-port`, else the API port.
    pub port: u16,
    /// This sentinel's id.
    pub myid: String,
    /// Its current epoch.
    pub current_epoch: u64,
    /// The group's name.
    pub name: String,
    /// The group's current master (the promoted replica once its promotion is seen).
    pub master: String,
    /// The master's config epoch.
    pub config_epoch: u64,
}

impl Hello {
    /// Redis's payload: `ip,port,myid,current_epoch,name,master_ip,master_port,config_epoch`.
    pub fn payload(&self, local_ip: &str) -> String {
        let ip = if self.announce_ip.is_empty() { local_ip } else { &self.announce_ip };
        let (mip, mport) = crate::core::monitor::split(&self.master);
        format!(
            "{ip},{},{},{},{},{},{mport},{}",
            self.port,
            self.myid,
            self.current_epoch,
            self.name,
            mip.trim_start_matches('[').trim_end_matches(']'),
            self.config_epoch
        )
    }
}

/// The local address of every connection to a data node (`bind-source-addr`), set once at start.
static SOURCE_ADDR: std::sync::OnceLock<std::net::IpAddr> = std::sync::OnceLock::new();

/// Makes every connection to a data node come from `ip` (Redis's `bind-source-addr`). Only the
/// first call counts.
pub fn set_source_addr(ip: std::net::IpAddr) {
    let _ = SOURCE_ADDR.set(ip);
}

/// Connects to `addr` and authenticates; `None` if either fails.
pub async fn connect(addr: &str, auth: &Auth, name: &str) -> Option<Client> {
    let mut c = Client::connect_from(addr, SOURCE_ADDR.get().copied(), Duration::from_secs(1)).await.ok()?;
    if let Some(pass) = &auth.pass {
        let mut args = vec!["AUTH"];
        if let Some(u) = &auth.user {
            args.push(u);
        }
        args.push(pass);
        match c.cmd(&args).await {
            Ok(Frame::Error(e)) => tracing::warn!(%addr, "AUTH refused: {}", String::from_utf8_lossy(&e)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    // An error reply (CLIENT renamed or denied) is harmless; no reply at all is not: a late
    // reply would answer the next command, and every reply on the link would be one off (found
    // by the partition drill: INFO read as "PONG").
    if !name.is_empty() {
        c.cmd(&["CLIENT", "SETNAME", name]).await.ok()?;
    }
    Some(c)
}

fn classify(reply: &Frame) -> PingReply {
    match reply {
        Frame::Simple(s) if s.as_ref() == b"PONG" => PingReply::Pong,
        Frame::Error(e) if e.starts_with(b"LOADING") => PingReply::Loading,
        Frame::Error(e) if e.starts_with(b"MASTERDOWN") => PingReply::MasterDown,
        _ => PingReply::Other,
    }
}

/// What one link task needs.
pub struct Link {
    /// Group name.
    pub name: String,
    /// Instance address.
    pub addr: String,
    /// Credentials.
    pub auth: Auth,
    /// This sentinel's id (for the link names and to recognise its own hellos).
    pub myid: String,
    /// Periods.
    pub timing: Arc<Timing>,
    /// The hello to publish.
    pub hello: Arc<std::sync::Mutex<Hello>>,
    /// The core's inbox.
    pub tx: mpsc::Sender<Msg>,
}

/// Runs the link until `cancel`.
pub async fn run(l: Arc<Link>, cancel: CancellationToken) {
    let send = |e: Event| {
        let tx = l.tx.clone();
        let name = l.name.clone();
        async move {
            let _ = tx.send(Msg::Link(name, e)).await;
        }
    };
    let mut backoff = Backoff::new();
    loop {
        let mut was_up = false;
        let attempt = async {
            let mut c = connect(&l.addr, &l.auth, &l.name_for("cmd")).await?;
            was_up = true;
            let local_ip = c.stream_mut().local_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            send(Event::Connected(l.addr.clone())).await;
            let mut last_info: Option<Instant> = None;
            let mut last_hello: Option<Instant> = None;
            loop {
                send(Event::PingSent(l.addr.clone())).await;
                let reply = c.cmd(&["PING"]).await.ok()?;
                send(Event::Ping(l.addr.clone(), classify(&reply))).await;
                let period = Duration::from_millis(l.timing.info_ms.load(Ordering::Relaxed));
                if last_info.is_none_or(|t| t.elapsed() >= period) {
                    let text = c.cmd(&["INFO"]).await.ok()?;
                    if let Some(t) = text.as_bytes() {
                        let msg = Msg::Info(l.name.clone(), l.addr.clone(), String::from_utf8_lossy(t).into_owned());
                        let _ = l.tx.send(msg).await;
                    }
                    last_info = Some(Instant::now());
                }
                let period = Duration::from_millis(l.timing.publish_ms.load(Ordering::Relaxed));
                if last_hello.is_none_or(|t| t.elapsed() >= period) {
                    let payload = l.hello.lock().unwrap_or_else(|e| e.into_inner()).payload(&local_ip);
                    c.cmd(&["PUBLISH", HELLO_CHANNEL, &payload]).await.ok()?;
                    last_hello = Some(Instant::now());
                }
                // Between PINGs, watch the socket: an instance that dies closes the link (or a
                // proxy in front of it does), and Redis notices that at once, from its event
                // loop. Waiting for the next PING to find out made detection up to a ping period
                // late. Nothing arrives unasked on a command link, so data is a desync too.
                let mut probe = [0u8; 1];
                let period = Duration::from_millis(l.timing.ping_ms.load(Ordering::Relaxed));
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = c.stream_mut().peek(&mut probe) => return None,
                }
            }
            #[allow(unreachable_code)]
            Some(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = attempt => {}
        }
        send(Event::Disconnected(l.addr.clone())).await;
        let wait = backoff.next(was_up, l.ping_period());
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Waits before reconnecting: 100 ms after a link that was up, doubling while attempts keep
/// failing, up to the ping period (Redis throttles reconnections to one per ping period).
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);

    fn new() -> Backoff {
        Backoff(Backoff::FIRST)
    }

    /// The wait before the next attempt; `was_up` resets it.
    fn next(&mut self, was_up: bool, max: Duration) -> Duration {
        if was_up {
            self.0 = Backoff::FIRST;
        }
        let wait = self.0.min(max);
        self.0 = (self.0 * 2).min(max.max(Backoff::FIRST));
        wait
    }
}

impl Link {
    fn ping_period(&self) -> Duration {
        Duration::from_millis(self.timing.ping_ms.load(Ordering::Relaxed))
    }

    /// `sentinel-<first 8 of myid>-<kind>`, as Redis names its links.
    fn name_for(&self, kind: &str) -> String {
        format!("sentinel-{}-{kind}", &self.myid[..8.min(self.myid.len())])
    }
}

/// A pub/sub link with no message for this long is re-opened (our own hellos arrive every 2 s).
const PUBSUB_SILENCE: Duration = Duration::from_secs(6);

/// The pub/sub link to one instance, until `cancel`.
pub async fn pubsub(l: Arc<Link>, cancel: CancellationToken) {
    let mut backoff = Backoff::new();
    loop {
        let mut was_up = false;
        let attempt = async {
            let mut c = connect(&l.addr, &l.auth, &l.name_for("pubsub")).await?;
            c.send(&["SUBSCRIBE", HELLO_CHANNEL]).await.ok()?;
            was_up = true;
            loop {
                let frame = tokio::time::timeout(PUBSUB_SILENCE, c.read_frame()).await.ok()?.ok()?;
                let (Frame::Array(items) | Frame::Push(items)) = frame else { continue };
                let (Some(kind), Some(payload)) = (items.first(), items.get(2)) else { continue };
                if kind.as_bytes().map(|b| &b[..]) != Some(b"message".as_slice()) {
                    continue;
                }
                let text = payload.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                let sender = text.split(',').nth(2).unwrap_or("");
                if sender != l.myid {
                    tracing::debug!(addr = %l.addr, hello = %text, "hello from another sentinel (sentinel groups are not handled yet)");
                }
            }
            #[allow(unreachable_code)]
            Some(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = attempt => {}
        }
        tracing::debug!(addr = %l.addr, "-pubsub-link-reconnection");
        let wait = backoff.next(was_up, l.ping_period());
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_backs_off_up_to_the_ping_period_and_resets_after_success() {
        let max = Duration::from_millis(1000);
        let mut b = Backoff::new();
        let waits: Vec<u128> = (0..6).map(|_| b.next(false, max).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.next(true, max).as_millis(), 100, "a link that was up reconnects quickly");
    }
}
