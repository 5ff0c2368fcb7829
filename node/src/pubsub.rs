//! The pub/sub hub: who listens to which channel or pattern, and delivery of PUBLISH.
//!
//! Each connection has one unbounded queue of [`Message`]s that its task drains into its socket.
//! A publisher pushes into the queues of the subscribers, counting the bytes it queued; a
//! subscriber that falls more than [`PUBSUB_LIMIT`] bytes behind is disconnected, as Redis does
//! with `client-output-buffer-limit pubsub 32mb`, so one slow reader cannot exhaust memory.
//!
//! The maps sit behind a `RwLock`: PUBLISH only reads them, SUBSCRIBE (rare) writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::db::glob;

/// Most bytes queued for one subscriber before it is disconnected.
pub const PUBSUB_LIMIT: usize = 32 * 1024 * 1024;

/// A message for a subscriber.
#[derive(Debug, Clone)]
pub enum Message {
    /// From a channel subscription.
    Message {
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
    /// From a pattern subscription.
    PMessage {
        /// The pattern that matched.
        pattern: Bytes,
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
}

impl Message {
    /// Approximate bytes this message occupies while queued.
    pub fn size(&self) -> usize {
        match self {
            Message::Message { channel, payload } => channel.len() + payload.len() + 64,
            Message::PMessage { pattern, channel, payload } => pattern.len() + channel.len() + payload.len() + 64,
        }
    }
}

/// A subscriber's mailbox.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// Where messages go.
    pub tx: UnboundedSender<Message>,
    /// Bytes queued and not yet written to the socket.
    pub pending: Arc<AtomicUsize>,
    /// Cancelled to disconnect a subscriber that fell too far behind.
    pub kill: CancellationToken,
}

impl Mailbox {
    fn deliver(&self, m: Message) {
        let size = m.size();
        if self.pending.fetch_add(size, Ordering::Relaxed) + size > PUBSUB_LIMIT {
            tracing::warn!("disconnecting a pub/sub client: more than {PUBSUB_LIMIT} bytes of messages queued");
            self.kill.cancel();
            return;
        }
        if self.tx.send(m).is_err() {
            self.pending.fetch_sub(size, Ordering::Relaxed);
        }
    }
}

type Subscribers = HashMap<Bytes, HashMap<u64, Mailbox>>;

/// Channel and pattern subscriptions of all clients.
#[derive(Debug, Default)]
pub struct Hub {
    channels: RwLock<Subscribers>,
    patterns: RwLock<Subscribers>,
}

impl Hub {
    /// Subscribes client `id` to `channel` (or to a pattern). Returns false if it already was.
    pub fn subscribe(&self, pattern: bool, name: &Bytes, id: u64, mb: &Mailbox) -> bool {
        let map = if pattern { &self.patterns } else { &self.channels };
        map.write().entry(name.clone()).or_default().insert(id, mb.clone()).is_none()
    }

    /// Unsubscribes client `id`. Returns false if it was not subscribed.
    pub fn unsubscribe(&self, pattern: bool, name: &[u8], id: u64) -> bool {
        let map = if pattern { &self.patterns } else { &self.channels };
        let mut m = map.write();
        let Some(subs) = m.get_mut(name) else { return false };
        let was = subs.remove(&id).is_some();
        if subs.is_empty() {
            m.remove(name);
        }
        was
    }

    /// Delivers a message; returns how many subscriptions received it.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for mb in subs.values() {
                mb.deliver(Message::Message { channel: channel.clone(), payload: payload.clone() });
                n += 1;
            }
        }
        for (pattern, subs) in self.patterns.read().iter() {
            if glob::matches(pattern, channel, false) {
                for mb in subs.values() {
                    mb.deliver(Message::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    });
                    n += 1;
                }
            }
        }
        n
    }

    /// Active channels (with at least one subscriber) matching `pattern`, if given.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels.read().keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false))).cloned().collect()
    }

    /// Subscribers of one channel.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.read().get(channel).map_or(0, HashMap::len)
    }

    /// Number of distinct patterns subscribed.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }
}
