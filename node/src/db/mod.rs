//! The keyspace: databases, values, expiry and WATCH bookkeeping.
//!
//! # Sharding and locks
//! The keyspace is split into [`SHARDS`] shards by the hash of the key; every shard holds its own
//! slice of all 16 databases behind one `parking_lot::Mutex`. A command locks only the shards of
//! the keys it names (in ascending shard order, so two multi-key commands cannot deadlock), does
//! its work and releases them before any `.await`: connections on different cores touching
//! different keys never wait for each other. Commands that see the whole keyspace (KEYS, SCAN,
//! FLUSHALL, DBSIZE, ...) and EXEC lock every shard, which gives them the same atomicity as
//! Redis's single thread. The locking is done by the dispatcher from the command table, never by
//! a command itself, so a command runs unchanged inside EXEC. See [`Locked`].
//!
//! # Expiry
//! Like Redis: a key's deadline lives in a second dictionary, `expires`, holding only keys with a
//! TTL. Reads check it and delete an expired key on the spot (lazy expiry); a background cycle
//! samples `expires` and deletes what has expired (active expiry), repeating while more than a
//! quarter of a sample had expired, so expired keys never pile up.

pub mod dict;
pub mod glob;
pub mod sbytes;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, MutexGuard};

pub use dict::{Dict, hash_key};
pub use sbytes::Str;

/// Number of shards (a power of two).
pub const SHARDS: usize = 64;

/// A stored value. Only strings exist so far; lists, hashes, sets and sorted sets join later.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (also used for integers and floats, as in Redis).
    Str(Str),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
}

/// A client's "a watched key changed" flag, shared with every database entry that it watches.
pub type WatchFlag = Arc<AtomicBool>;

/// Per-shard counters, summed for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    /// Keys deleted because their TTL passed.
    pub expired_keys: u64,
    /// Read lookups that found a key.
    pub keyspace_hits: u64,
    /// Read lookups that found nothing.
    pub keyspace_misses: u64,
}

/// One shard's part of one database.
#[derive(Default)]
pub struct Db {
    dict: Dict<Value>,
    expires: Dict<i64>,
    watched: HashMap<Str, Vec<WatchFlag>>,
    /// Changes made (Redis's `server.dirty`): the dispatcher replicates a write command only if
    /// it changed something.
    dirty: u64,
    /// Keys deleted because they expired, waiting to be replicated as `DEL`.
    expired_log: Vec<Str>,
    /// On a replica, expired keys are hidden but not deleted: the master's `DEL` deletes them.
    replica: bool,
    /// While a snapshot of this database is pending: the state at the snapshot instant of every
    /// key changed since (copy on write). See [`Db::begin_snapshot`].
    cow: Option<Cow>,
    /// The master link is executing a command: no key counts as expired (Redis's
    /// `expireIfNeeded` returns "not expired" for the master client), so the master's `DEL` of
    /// an expired key, or a write that reached us after the TTL, acts as it did on the master.
    master_view: bool,
}

/// Until this unix-ms time, expired keys are hidden but not deleted (CLIENT PAUSE WRITE: the
/// dataset, and so the replication offset, must not move while writes are paused). One server
/// per process, so this is process-wide.
pub static EXPIRY_PAUSED_UNTIL_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The part of a pending snapshot that writes would otherwise destroy.
#[derive(Default)]
struct Cow {
    /// Key -> its value and expiry at the snapshot instant (`None`: it did not exist then).
    saved: HashMap<Str, Option<(Value, Option<i64>)>>,
    /// `saved` holds the whole database as of the snapshot (after a flush or swap).
    complete: bool,
}

/// Outcome of a lookup that may find an expired key.
fn expired(expires: &Dict<i64>, key: &[u8], now: i64) -> bool {
    !expires.is_empty() && expires.get(key).is_some_and(|&when| when <= now)
}

impl Db {
    /// Number of keys, counting those expired but not yet deleted (as Redis's DBSIZE does).
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Deletes `key` if its TTL has passed; returns true if it did. Every lookup passes here, so
    /// it also advances a resize in progress: reads, not only writes, finish a rehash (as in
    /// Redis), otherwise a read-mostly table would keep paying for two lookups.
    fn expire_if_needed(&mut self, key: &[u8], now: i64, stats: &mut ShardStats) -> bool {
        if self.dict.is_rehashing() {
            self.dict.rehash_step(1);
        }
        if self.master_view || !expired(&self.expires, key, now) {
            return false;
        }
        if !self.replica && now >= EXPIRY_PAUSED_UNTIL_MS.load(Ordering::Relaxed) {
            self.delete(key);
            self.expired_log.push(Str::new(key));
            stats.expired_keys += 1;
        }
        true
    }

    /// Looks up without the replica rule: on a replica an expired key is still stored.
    fn live(&self, key: &[u8], now: i64) -> Option<&Value> {
        if !self.master_view && expired(&self.expires, key, now) { None } else { self.dict.get(key) }
    }

    /// Before `key` changes while a snapshot is pending, remember its snapshot-time state.
    #[inline]
    fn preserve(&mut self, key: &[u8]) {
        if let Some(cow) = &mut self.cow
            && !cow.complete
            && !cow.saved.contains_key(key)
        {
            let old = self.dict.get(key).map(|v| (v.clone(), self.expires.get(key).copied()));
            cow.saved.insert(Str::new(key), old);
        }
    }

    /// Before the whole database changes (flush, swap), remember all of it.
    fn preserve_all(&mut self) {
        let Some(cow) = &mut self.cow else { return };
        if cow.complete {
            return;
        }
        for (k, v) in self.dict.iter() {
            cow.saved.entry(k.clone()).or_insert_with(|| Some((v.clone(), self.expires.get(k).copied())));
        }
        cow.saved.retain(|_, v| v.is_some());
        cow.complete = true;
    }

    /// Marks this instant as a snapshot point: until [`Db::snapshot_entries`] runs, writes keep
    /// the old state of what they change, so the snapshot can be serialised later, one shard at
    /// a time, while clients keep writing.
    pub fn begin_snapshot(&mut self) {
        self.cow = Some(Cow::default());
    }

    /// The entries as of the snapshot point (or now, if none is pending), with their expiry;
    /// ends the pending snapshot.
    pub fn snapshot_entries(&mut self, mut f: impl FnMut(&[u8], &Value, Option<i64>)) {
        let cow = self.cow.take().unwrap_or_default();
        if cow.complete {
            for (k, v) in &cow.saved {
                if let Some((v, ttl)) = v {
                    f(k, v, *ttl);
                }
            }
            return;
        }
        for (k, v) in self.dict.iter() {
            if !cow.saved.contains_key(k.as_slice()) {
                f(k, v, self.expires.get(k).copied());
            }
        }
        for (k, old) in &cow.saved {
            if let Some((v, ttl)) = old {
                f(k, v, *ttl);
            }
        }
    }

    /// Changes made so far.
    pub fn dirty(&self) -> u64 {
        self.dirty
    }

    /// Takes the keys deleted by expiry since the last call.
    pub fn take_expired(&mut self) -> Vec<Str> {
        std::mem::take(&mut self.expired_log)
    }

    /// True if expired keys were deleted since the last [`Db::take_expired`].
    pub fn has_expired(&self) -> bool {
        !self.expired_log.is_empty()
    }

    /// Switches replica behaviour (no deletion of expired keys) on or off.
    pub fn set_replica(&mut self, on: bool) {
        self.replica = on;
    }

    /// The live value of `key`, deleting it first if it has expired.
    pub fn get(&mut self, key: &[u8], now: i64, stats: &mut ShardStats) -> Option<&Value> {
        self.expire_if_needed(key, now, stats);
        self.live(key, now)
    }

    /// Like [`Db::get`], counting a keyspace hit or miss.
    pub fn read(&mut self, key: &[u8], now: i64, stats: &mut ShardStats) -> Option<&Value> {
        self.expire_if_needed(key, now, stats);
        let v = self.live(key, now);
        if v.is_some() {
            stats.keyspace_hits += 1;
        } else {
            stats.keyspace_misses += 1;
        }
        v
    }

    /// Mutable access to the live value of `key`. The caller is writing: watchers are signalled.
    pub fn get_mut(&mut self, key: &[u8], now: i64, stats: &mut ShardStats) -> Option<&mut Value> {
        if self.expire_if_needed(key, now, stats) && self.dict.contains_key(key) {
            return None; // expired but kept (replica, or expiry paused): hidden
        }
        self.signal(key);
        self.preserve(key);
        let v = self.dict.get_mut(key);
        if v.is_some() {
            self.dirty += 1;
        }
        v
    }

    /// True if `key` exists and has not expired.
    pub fn exists(&mut self, key: &[u8], now: i64, stats: &mut ShardStats) -> bool {
        self.get(key, now, stats).is_some()
    }

    /// Stores `value` under `key`. Any TTL is dropped unless `keep_ttl`.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        self.signal(key);
        self.preserve(key);
        self.dirty += 1;
        if !keep_ttl && !self.expires.is_empty() {
            self.expires.remove(key);
        }
        match self.dict.get_mut(key) {
            Some(v) => *v = value,
            None => {
                self.dict.insert(Str::new(key), value);
            }
        }
    }

    /// Removes `key` (expired or not) and its TTL; returns the value.
    pub fn delete(&mut self, key: &[u8]) -> Option<Value> {
        self.preserve(key);
        let (_, v) = self.dict.remove(key)?;
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        self.signal(key);
        self.dirty += 1;
        Some(v)
    }

    /// The absolute expiry time of `key` in unix ms, if it has one.
    pub fn ttl_of(&self, key: &[u8]) -> Option<i64> {
        if self.expires.is_empty() { None } else { self.expires.get(key).copied() }
    }

    /// Sets the absolute expiry of an existing key.
    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) {
        self.signal(key);
        self.preserve(key);
        self.dirty += 1;
        match self.expires.get_mut(key) {
            Some(w) => *w = when_ms,
            None => {
                self.expires.insert(Str::new(key), when_ms);
            }
        }
    }

    /// Drops the TTL of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.preserve(key);
        let had = !self.expires.is_empty() && self.expires.remove(key).is_some();
        if had {
            self.signal(key);
            self.dirty += 1;
        }
        had
    }

    /// Every key, including expired ones not yet deleted.
    pub fn keys(&self) -> impl Iterator<Item = &Str> {
        self.dict.iter().map(|(k, _)| k)
    }

    /// Every stored entry with its expiry (expired ones included).
    pub fn entries(&self) -> impl Iterator<Item = (&Str, &Value, Option<i64>)> {
        self.dict.iter().map(move |(k, v)| (k, v, self.ttl_of(k)))
    }

    /// Inserts a loaded entry (snapshot load), replacing any previous value.
    pub fn load(&mut self, key: &[u8], value: Value, expire_ms: Option<i64>) {
        self.set(key, value, false);
        if let Some(ms) = expire_ms {
            self.set_expire(key, ms);
        }
    }

    /// True if `key` is stored, expired or not.
    pub fn keys_contains(&self, key: &[u8]) -> bool {
        self.dict.contains_key(key)
    }

    /// True if `key` is logically expired now (without deleting it).
    pub fn is_expired(&self, key: &[u8], now: i64) -> bool {
        !self.master_view && expired(&self.expires, key, now)
    }

    /// One SCAN step over this database; see [`Dict::scan`].
    pub fn scan(&self, cursor: u64, f: impl FnMut(&Str, &Value)) -> u64 {
        self.dict.scan(cursor, f)
    }

    /// A random key, possibly expired.
    pub fn random_key(&self, rng: &mut impl rand::Rng) -> Option<Str> {
        self.dict.random(rng).map(|(k, _)| k.clone())
    }

    /// Deletes every key; watchers of keys that existed are signalled.
    pub fn flush(&mut self) {
        self.preserve_all();
        self.signal_existing();
        self.dirty += self.dict.len() as u64;
        self.dict.clear();
        self.expires.clear();
    }

    /// Signals the watchers of every watched key that exists here.
    pub fn signal_existing(&mut self) {
        for (key, flags) in &self.watched {
            if self.dict.contains_key(key) {
                for f in flags {
                    f.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Signals the watchers of every watched key, existing or not.
    pub fn signal_all_watched(&mut self) {
        for flags in self.watched.values() {
            for f in flags {
                f.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Marks every client watching `key` dirty. Cheap when nothing is watched.
    #[inline]
    pub fn signal(&mut self, key: &[u8]) {
        if !self.watched.is_empty()
            && let Some(flags) = self.watched.get(key)
        {
            for f in flags {
                f.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Registers `flag` as watching `key`.
    pub fn watch(&mut self, key: &[u8], flag: &WatchFlag) {
        let list = self.watched.entry(Str::new(key)).or_default();
        if !list.iter().any(|f| Arc::ptr_eq(f, flag)) {
            list.push(flag.clone());
        }
    }

    /// Removes `flag` from the watchers of `key`.
    pub fn unwatch(&mut self, key: &[u8], flag: &WatchFlag) {
        if let Some(list) = self.watched.get_mut(key) {
            list.retain(|f| !Arc::ptr_eq(f, flag));
            if list.is_empty() {
                self.watched.remove(key);
            }
        }
    }

    /// Takes every key and TTL out, leaving this database empty (for SWAPDB the caller swaps).
    pub fn swap_data(&mut self, other: &mut Db) {
        self.preserve_all();
        other.preserve_all();
        self.dirty += 1;
        std::mem::swap(&mut self.dict, &mut other.dict);
        std::mem::swap(&mut self.expires, &mut other.expires);
    }

    /// Active expiry on this database: samples keys with a TTL and deletes the expired ones,
    /// until a sample finds at most a quarter expired or `max_samples` were looked at.
    pub fn active_expire(&mut self, now: i64, max_samples: usize, rng: &mut impl rand::Rng) -> u64 {
        const SAMPLE: usize = 20;
        let mut deleted = 0u64;
        let mut sampled = 0;
        let paused = now < EXPIRY_PAUSED_UNTIL_MS.load(Ordering::Relaxed);
        while !self.replica && !paused && !self.expires.is_empty() && sampled < max_samples {
            let mut victims: Vec<Str> = Vec::new();
            let n = SAMPLE.min(self.expires.len());
            for _ in 0..n {
                if let Some((k, &when)) = self.expires.random(rng)
                    && when <= now
                    && !victims.contains(k)
                {
                    victims.push(k.clone());
                }
            }
            sampled += n;
            for k in &victims {
                self.delete(k);
            }
            self.expired_log.extend(victims.iter().cloned());
            deleted += victims.len() as u64;
            if victims.len() * 4 <= n {
                break;
            }
        }
        deleted
    }

    /// Advances resizes of this database's tables by up to `n` buckets each (background work).
    pub fn rehash(&mut self, n: usize) -> bool {
        let a = self.dict.rehash_step(n);
        let b = self.expires.rehash_step(n);
        a || b
    }

    /// Rough bytes used by this database's tables and entries (for INFO memory).
    pub fn approx_bytes(&self) -> usize {
        self.dict.buckets() * 8 + self.dict.len() * 64 + self.expires.buckets() * 8 + self.expires.len() * 48
    }
}

/// One shard: its part of every database, plus its counters.
pub struct Shard {
    /// Databases 0..N, this shard's part of each.
    pub dbs: Vec<Db>,
    /// Counters.
    pub stats: ShardStats,
}

/// The whole keyspace.
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    databases: usize,
}

/// Index of the shard that holds `key`.
#[inline]
pub fn shard_of(key: &[u8]) -> usize {
    (hash_key(key) >> (64 - SHARDS.trailing_zeros())) as usize
}

impl Keyspace {
    /// An empty keyspace with `databases` databases.
    pub fn new(databases: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard { dbs: (0..databases).map(|_| Db::default()).collect(), stats: ShardStats::default() })
            })
            .collect();
        Keyspace { shards, databases }
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Locks the shards of `keys` (in ascending order).
    pub fn lock_keys<'a, K: AsRef<[u8]>>(&'a self, keys: impl Iterator<Item = K>) -> Locked<'a> {
        let mut idx: Vec<usize> = keys.map(|k| shard_of(k.as_ref())).collect();
        match idx.len() {
            0 => Locked { guards: Guards::None },
            1 => Locked { guards: Guards::One(idx[0], self.shards[idx[0]].lock()) },
            _ => {
                idx.sort_unstable();
                idx.dedup();
                Locked { guards: Guards::Many(idx.into_iter().map(|i| (i, self.shards[i].lock())).collect()) }
            }
        }
    }

    /// Locks the shard of one key.
    pub fn lock_key(&self, key: &[u8]) -> Locked<'_> {
        let i = shard_of(key);
        Locked { guards: Guards::One(i, self.shards[i].lock()) }
    }

    /// Locks every shard.
    pub fn lock_all(&self) -> Locked<'_> {
        Locked { guards: Guards::All(self.shards.iter().map(|s| s.lock()).collect()) }
    }

    /// Locks one shard by index (for background work that walks shards one at a time).
    pub fn lock_shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i].lock()
    }
}

enum Guards<'a> {
    None,
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<(usize, MutexGuard<'a, Shard>)>),
    All(Vec<MutexGuard<'a, Shard>>),
}

/// The shards a command holds while it runs. Dropping it releases them.
pub struct Locked<'a> {
    guards: Guards<'a>,
}

impl<'a> Locked<'a> {
    /// No shard held (commands that do not touch the keyspace).
    pub fn none() -> Locked<'a> {
        Locked { guards: Guards::None }
    }

    /// The shard holding `key`, which must be among the locked ones.
    ///
    /// The command table declares every key a command touches and the dispatcher locks their
    /// shards, so a miss here is a bug in the table, not something a client can cause.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        // The common case, one key: the dispatcher locked exactly this key's shard, so the key
        // is not hashed again (checked in debug builds).
        let want = if matches!(self.guards, Guards::One(..)) { usize::MAX } else { shard_of(key) };
        match &mut self.guards {
            Guards::One(i, g) => {
                debug_assert_eq!(*i, shard_of(key), "command touched a shard it did not lock: key spec bug");
                g
            }
            Guards::Many(v) => match v.iter_mut().find(|(i, _)| *i == want) {
                Some((_, g)) => g,
                None => panic!("command touched shard {want} it did not lock: key spec bug"),
            },
            Guards::All(v) => &mut v[want],
            Guards::None => panic!("command touched a key without locking: key spec bug"),
        }
    }

    /// Database `db` of the shard holding `key`, with that shard's counters.
    pub fn db(&mut self, db: usize, key: &[u8]) -> (&mut Db, &mut ShardStats) {
        let s = self.shard(key);
        (&mut s.dbs[db], &mut s.stats)
    }

    /// Every shard; only valid when all are locked.
    pub fn all(&mut self) -> &mut [MutexGuard<'a, Shard>] {
        match &mut self.guards {
            Guards::All(v) => v,
            _ => panic!("whole-keyspace access without locking all shards: command flag bug"),
        }
    }

    /// Calls `f` on every held shard, without allocating (this runs for every command).
    fn for_each_held(&mut self, mut f: impl FnMut(&mut Shard)) {
        match &mut self.guards {
            Guards::None => {}
            Guards::One(_, g) => f(g),
            Guards::Many(v) => v.iter_mut().for_each(|(_, g)| f(g)),
            Guards::All(v) => v.iter_mut().for_each(|g| f(g)),
        }
    }

    /// Sum of the change counters of the held shards (compare before and after a command).
    pub fn dirty(&mut self) -> u64 {
        let mut sum = 0;
        self.for_each_held(|s| sum += s.dbs.iter().map(Db::dirty).sum::<u64>());
        sum
    }

    /// Keys the held shards deleted by expiry since the last call, with their database.
    /// Allocates only when there are some.
    pub fn take_expired(&mut self) -> Vec<(usize, Str)> {
        let mut out = Vec::new();
        self.for_each_held(|s| {
            for (i, db) in s.dbs.iter_mut().enumerate() {
                if db.has_expired() {
                    out.extend(db.take_expired().into_iter().map(|k| (i, k)));
                }
            }
        });
        out
    }

    /// Marks the held databases as being written by the master link (see `Db::master_view`).
    pub fn set_master_view(&mut self, on: bool) {
        self.for_each_held(|s| s.dbs.iter_mut().for_each(|db| db.master_view = on));
    }

    /// True if every shard is held.
    pub fn holds_all(&self) -> bool {
        matches!(self.guards, Guards::All(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &str) -> Value {
        Value::Str(Str::new(b.as_bytes()))
    }

    #[test]
    fn lazy_expiry_deletes_on_access_and_counts() {
        let mut db = Db::default();
        let mut st = ShardStats::default();
        db.set(b"k", s("v"), false);
        db.set_expire(b"k", 100);
        assert!(db.get(b"k", 99, &mut st).is_some());
        assert!(db.get(b"k", 100, &mut st).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
        assert_eq!(st.expired_keys, 1);
    }

    #[test]
    fn set_drops_ttl_unless_kept() {
        let mut db = Db::default();
        db.set(b"k", s("v"), false);
        db.set_expire(b"k", 100);
        db.set(b"k", s("w"), true);
        assert_eq!(db.ttl_of(b"k"), Some(100));
        db.set(b"k", s("x"), false);
        assert_eq!(db.ttl_of(b"k"), None);
    }

    #[test]
    fn active_expiry_clears_a_mostly_expired_db() {
        let mut db = Db::default();
        let mut rng = rand::rng();
        for i in 0..10_000 {
            let k = format!("k{i}");
            db.set(k.as_bytes(), s("v"), false);
            db.set_expire(k.as_bytes(), if i % 10 == 0 { 1_000 } else { 10 });
        }
        let mut rounds = 0;
        while db.active_expire(500, 2_000, &mut rng) > 0 {
            rounds += 1;
            assert!(rounds < 1_000);
        }
        // Sampling stops once at most a quarter of a sample is expired; almost all are gone.
        assert!(db.len() < 1_500, "left {}", db.len());
    }

    #[test]
    fn watchers_are_signalled_by_writes_and_flush() {
        let mut db = Db::default();
        let flag: WatchFlag = Arc::default();
        db.watch(b"k", &flag);
        db.set(b"other", s("v"), false);
        assert!(!flag.load(Ordering::Relaxed));
        db.set(b"k", s("v"), false);
        assert!(flag.load(Ordering::Relaxed));
        flag.store(false, Ordering::Relaxed);
        db.flush();
        assert!(flag.load(Ordering::Relaxed));
    }

    #[test]
    fn a_pending_snapshot_sees_the_state_at_its_instant() {
        let mut db = Db::default();
        db.set(b"kept", s("1"), false);
        db.set(b"changed", s("old"), false);
        db.set(b"deleted", s("x"), false);
        db.set_expire(b"deleted", 5_000);
        db.begin_snapshot();
        db.set(b"changed", s("new"), false);
        db.delete(b"deleted");
        db.set(b"added", s("later"), false);
        if let Some(Value::Str(v)) = db.get_mut(b"kept", 0, &mut ShardStats::default()) {
            v.make_growable().push(b'!');
        }
        let mut seen = Vec::new();
        db.snapshot_entries(|k, v, ttl| {
            let Value::Str(v) = v;
            seen.push((String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned(), ttl));
        });
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("changed".into(), "old".into(), None),
                ("deleted".into(), "x".into(), Some(5_000)),
                ("kept".into(), "1".into(), None),
            ]
        );
        // The live data has every change, and the snapshot is over.
        assert_eq!(db.len(), 3);
        assert!(db.cow.is_none());
    }

    #[test]
    fn a_flush_during_a_pending_snapshot_keeps_the_snapshot_whole() {
        let mut db = Db::default();
        db.set(b"a", s("1"), false);
        db.begin_snapshot();
        db.set(b"a", s("2"), false);
        db.set(b"b", s("3"), false);
        db.flush();
        db.set(b"c", s("4"), false);
        let mut seen = Vec::new();
        db.snapshot_entries(|k, v, _| {
            let Value::Str(v) = v;
            seen.push((k.to_vec(), v.to_vec()));
        });
        assert_eq!(seen, vec![(b"a".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn value_stays_small() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
}
