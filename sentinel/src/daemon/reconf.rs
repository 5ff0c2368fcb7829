//! The commands a failover sends to data nodes: the reconfiguration transaction, the write
//! pause of a graceful failover, and the quick INFO polls that confirm them.

use std::time::Duration;

use tokio::sync::mpsc;

use super::Msg;
use super::link::{Auth, connect};
use crate::core::monitor::Event;
use crate::info;

/// Sends the reconfiguration transaction Redis Sentinel sends, as one MULTI/EXEC: `SLAVEOF NO
/// ONE` (promotion, `to` is `None`) or `SLAVEOF host port`, then `CONFIG REWRITE` and the two
/// `CLIENT KILL`s. After a promotion it polls the replica's INFO at once to confirm it (Redis
/// Sentinel waits for the next periodic INFO and loses about a second there).
pub async fn send_transaction(name: String, addr: String, to: Option<String>, auth: Auth, tx: mpsc::Sender<Msg>) {
    let slaveof: Vec<String> = match &to {
        None => vec!["SLAVEOF".into(), "NO".into(), "ONE".into()],
        Some(t) => {
            let (h, p) = t.rsplit_once(':').unwrap_or((t, "0"));
            vec!["SLAVEOF".into(), h.trim_start_matches('[').trim_end_matches(']').into(), p.into()]
        }
    };
    let cmds: Vec<Vec<String>> = vec![
        vec!["MULTI".into()],
        slaveof,
        vec!["CONFIG".into(), "REWRITE".into()],
        vec!["CLIENT".into(), "KILL".into(), "TYPE".into(), "normal".into()],
        vec!["CLIENT".into(), "KILL".into(), "TYPE".into(), "pubsub".into()],
        // An old master paused by a graceful failover releases its held clients: they now get
        // READONLY, never an acknowledgement that would be lost.
        vec!["CLIENT".into(), "UNPAUSE".into()],
        vec!["EXEC".into()],
    ];
    let sent = async {
        let mut c = connect(&addr, &auth, "").await?;
        c.pipeline(&cmds).await.ok()?;
        Some(c)
    }
    .await;
    if sent.is_none() {
        tracing::warn!(%addr, "could not send the reconfiguration transaction");
        return;
    }
    if to.is_some() {
        return;
    }
    let _ = tx.send(Msg::Link(name.clone(), Event::PromotionSent(addr.clone()))).await;
    for _ in 0..50 {
        if let Some(mut c) = connect(&addr, &auth, "").await
            && let Ok(text) = c.cmd(&["INFO", "replication"]).await
            && let Some(t) = text.as_bytes()
        {
            let t = String::from_utf8_lossy(t).into_owned();
            let is_master = info::parse(&t).role == info::Role::Master;
            let _ = tx.send(Msg::Info(name.clone(), addr.clone(), t)).await;
            if is_master {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Graceful failover: `CLIENT PAUSE <ms> WRITE` on the old master, then report the offset its
/// stream stopped at.
pub async fn pause_writes(name: String, addr: String, ms: u64, auth: Auth, tx: mpsc::Sender<Msg>) {
    let Some(mut c) = connect(&addr, &auth, "").await else {
        tracing::warn!(%addr, "graceful failover: cannot reach the master to pause it");
        return;
    };
    if c.cmd_ok(&["CLIENT", "PAUSE", &ms.to_string(), "WRITE"]).await.is_err() {
        tracing::warn!(%addr, "graceful failover: CLIENT PAUSE refused");
        return;
    }
    let Ok(text) = c.cmd(&["INFO", "replication"]).await else { return };
    let Some(t) = text.as_bytes() else { return };
    let parsed = info::parse(&String::from_utf8_lossy(t));
    tracing::info!(%addr, offset = parsed.master_repl_offset, "writes paused on the master for the failover");
    let _ = tx.send(Msg::Link(name, Event::MasterPaused(parsed.master_repl_offset))).await;
}

/// Fetches INFO once (after `SENTINEL RESET`, so replicas are rediscovered at once rather than
/// at the next periodic INFO: Redis Sentinel's blind window after a reset).
pub async fn info_now(name: String, addr: String, auth: Auth, tx: mpsc::Sender<Msg>) {
    if let Some(mut c) = connect(&addr, &auth, "").await
        && let Ok(text) = c.cmd(&["INFO"]).await
        && let Some(t) = text.as_bytes()
    {
        let _ = tx.send(Msg::Info(name, addr, String::from_utf8_lossy(t).into_owned())).await;
    }
}
