//! The command link to one instance: connect (AUTH, CLIENT SETNAME), PING at the ping period,
//! INFO at the period the monitor asks for, and report everything to the core task.
//!
//! A PING that gets no reply within a second drops the connection (it is re-opened at once), so
//! a late reply can never be taken for the answer to a later command.

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
}

/// Connects to `addr` and authenticates; `None` if either fails.
pub async fn connect(addr: &str, auth: &Auth, name: &str) -> Option<Client> {
    let mut c = Client::connect(addr, Duration::from_secs(1)).await.ok()?;
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
    if !name.is_empty() {
        let _ = c.cmd(&["CLIENT", "SETNAME", name]).await;
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
    /// `CLIENT SETNAME` value.
    pub client_name: String,
    /// Periods.
    pub timing: Arc<Timing>,
    /// The core's inbox.
    pub tx: mpsc::Sender<Msg>,
}

/// Runs the link until `cancel`.
pub async fn run(l: Link, cancel: CancellationToken) {
    let send = |e: Event| {
        let tx = l.tx.clone();
        let name = l.name.clone();
        async move {
            let _ = tx.send(Msg::Link(name, e)).await;
        }
    };
    loop {
        let attempt = async {
            let mut c = connect(&l.addr, &l.auth, &l.client_name).await?;
            send(Event::Connected(l.addr.clone())).await;
            let mut last_info: Option<Instant> = None;
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
                tokio::time::sleep(Duration::from_millis(l.timing.ping_ms.load(Ordering::Relaxed))).await;
            }
            #[allow(unreachable_code)]
            Some(())
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = attempt => {}
        }
        send(Event::Disconnected(l.addr.clone())).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
