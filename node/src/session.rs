//! The state of one client connection, owned by its task.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::clients::{ClientInfo, ClientKind};
use crate::cmd::Spec;
use crate::db::{Keyspace, Str, WatchFlag};
use crate::pubsub::Mailbox;

/// A MULTI block being queued.
#[derive(Default)]
pub struct Multi {
    /// Commands queued, with their arguments.
    pub queue: Vec<(&'static Spec, Vec<Bytes>)>,
    /// A queue-time error occurred: EXEC must answer EXECABORT.
    pub aborted: bool,
}

/// Keys watched with WATCH.
pub struct Watch {
    /// Set by any write to a watched key.
    pub flag: WatchFlag,
    /// Database, key, and whether it was live (not expired) when watched.
    pub keys: Vec<(usize, Str, bool)>,
}

/// Per-connection state.
pub struct Session {
    /// Shared, observable part (CLIENT LIST).
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// Protocol version, 2 or 3.
    pub resp: u8,
    /// False while a password is required and not yet given.
    pub authenticated: bool,
    /// The MULTI block being queued.
    pub multi: Option<Multi>,
    /// WATCHed keys.
    pub watch: Option<Watch>,
    /// Subscribed channels.
    pub channels: HashSet<Bytes>,
    /// Subscribed patterns.
    pub patterns: HashSet<Bytes>,
    /// Where PUBLISH delivers this client's messages; created at the first subscription, so
    /// the many connections that never subscribe carry no queue.
    pub mailbox: Option<Mailbox>,
    /// The receiving end of `mailbox`, drained by the connection task.
    pub inbox: Option<tokio::sync::mpsc::UnboundedReceiver<crate::pubsub::Message>>,
    /// Close the connection once the current reply is written (QUIT, protocol errors).
    pub close: bool,
    /// The last command run (CLIENT LIST `cmd=`).
    pub last_cmd: &'static Spec,
    /// This session applies our master's stream: exempt from READONLY, never answered.
    pub is_master_link: bool,
    /// Set by PSYNC/SYNC: after this batch the connection becomes a replica link.
    pub psync: Option<crate::repl::master::SyncRequest>,
    /// `REPLCONF listening-port` of a replica-to-be.
    pub replica_port: u16,
    /// `REPLCONF ip-address` of a replica-to-be (its replica-announce-ip).
    pub replica_ip: Option<String>,
    /// Replication offset right after this client's last replicated write (for WAIT).
    pub woff: i64,
    /// Set by WAIT: block until this many replicas acknowledged the offset, or the deadline.
    pub wait: Option<WaitFor>,
    /// A command held back by CLIENT PAUSE, run again once the pause ends.
    pub postponed: Option<Vec<Bytes>>,
}

/// A WAIT in progress.
#[derive(Debug, Clone, Copy)]
pub struct WaitFor {
    /// Offset the replicas must have acknowledged.
    pub offset: i64,
    /// How many replicas.
    pub replicas: usize,
    /// When to give up (`None`: never).
    pub deadline: Option<std::time::Instant>,
}

impl Session {
    /// A fresh connection's state.
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Session {
        Session {
            info,
            db: 0,
            resp: 2,
            authenticated,
            multi: None,
            watch: None,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            mailbox: None,
            inbox: None,
            close: false,
            last_cmd: crate::cmd::find(b"command").expect("COMMAND is in the table"),
            is_master_link: false,
            psync: None,
            replica_port: 0,
            replica_ip: None,
            woff: 0,
            wait: None,
            postponed: None,
        }
    }

    /// This client's mailbox, created on first use.
    pub fn mailbox(&mut self) -> Mailbox {
        if let Some(mb) = &self.mailbox {
            return mb.clone();
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mb = Mailbox { tx, pending: Default::default(), kill: self.info.kill.clone() };
        self.mailbox = Some(mb.clone());
        self.inbox = Some(rx);
        mb
    }

    /// Subscriptions held (channels plus patterns).
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Publishes the subscription counts and kind to the shared info.
    pub fn sync_pubsub_info(&self) {
        self.info.sub.store(self.channels.len(), Ordering::Relaxed);
        self.info.psub.store(self.patterns.len(), Ordering::Relaxed);
        let kind = if self.subscriptions() > 0 { ClientKind::PubSub } else { ClientKind::Normal };
        if matches!(self.info.kind(), ClientKind::Normal | ClientKind::PubSub) {
            self.info.set_kind(kind);
        }
    }

    /// Drops every WATCH, unregistering from the keyspace. `locked` must hold all shards if
    /// given; otherwise the shards are locked here.
    pub fn unwatch_all(&mut self, ks: &Keyspace, locked: Option<&mut crate::db::Locked<'_>>) {
        let Some(w) = self.watch.take() else { return };
        match locked {
            Some(l) => {
                for (db, key, _) in &w.keys {
                    l.db(*db, key).0.unwatch(key, &w.flag);
                }
            }
            None => {
                let mut l = ks.lock_keys(w.keys.iter().map(|(_, k, _)| k));
                for (db, key, _) in &w.keys {
                    l.db(*db, key).0.unwatch(key, &w.flag);
                }
            }
        }
    }

    /// Sets the selected database (and mirrors it for CLIENT LIST).
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
