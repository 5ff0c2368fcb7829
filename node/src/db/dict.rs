//! `Dict`: the hash table behind every database, modelled on Redis's `dict`.
//!
//! Why not `std::collections::HashMap`? Three things Redis operators rely on need control over the
//! bucket layout:
//!
//! - **SCAN** must return every key present for the whole iteration, with a cursor that is only a
//!   number, while the table grows or shrinks between calls. Redis's reverse-binary cursor over a
//!   power-of-two table gives that guarantee; we use the same algorithm.
//! - **Random sampling** (RANDOMKEY, active expiry) needs to pick a bucket at random.
//! - **No latency spike on resize**: a table of millions of keys is rehashed incrementally, a few
//!   buckets per write, while lookups consult both tables.
//!
//! Layout: a vector of buckets, each a singly linked chain of boxed nodes. A node holds the key,
//! the value and the next pointer, 56 bytes for a string key/value pair (one 64-byte malloc chunk).
//! The hash is not stored; it is recomputed when rehashing.

use rand::Rng;

use super::sbytes::Str;

/// Hashes a key with the process-wide seeded hasher (also used to pick a shard).
pub fn hash_key(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::OnceLock<foldhash::fast::FixedState> = std::sync::OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(key)
}

struct Node<V> {
    key: Str,
    value: V,
    next: Option<Box<Node<V>>>,
}

type Bucket<V> = Option<Box<Node<V>>>;

struct Table<V> {
    buckets: Vec<Bucket<V>>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table { buckets: Vec::new(), used: 0 }
    }

    fn with_size(size: usize) -> Self {
        let mut buckets = Vec::with_capacity(size);
        buckets.resize_with(size, || None);
        Table { buckets, used: 0 }
    }

    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }

    fn find(&self, key: &[u8], hash: u64) -> Option<&Node<V>> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut cur = self.buckets[(hash & self.mask()) as usize].as_deref();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(node);
            }
            cur = node.next.as_deref();
        }
        None
    }

    fn find_mut(&mut self, key: &[u8], hash: u64) -> Option<&mut Node<V>> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = (hash & self.mask()) as usize;
        let mut cur = self.buckets[idx].as_deref_mut();
        while let Some(node) = cur {
            if &*node.key == key {
                return Some(node);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    fn remove(&mut self, key: &[u8], hash: u64) -> Option<Box<Node<V>>> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = (hash & self.mask()) as usize;
        let mut link = &mut self.buckets[idx];
        while link.as_ref().is_some_and(|n| &*n.key != key) {
            link = &mut link.as_mut().expect("checked above").next;
        }
        let mut node = link.take()?;
        *link = node.next.take();
        self.used -= 1;
        Some(node)
    }

    fn push(&mut self, mut node: Box<Node<V>>, hash: u64) {
        let idx = (hash & self.mask()) as usize;
        node.next = self.buckets[idx].take();
        self.buckets[idx] = Some(node);
        self.used += 1;
    }
}

/// A hash table from [`Str`] keys to `V`, with incremental rehashing and a SCAN cursor.
pub struct Dict<V> {
    /// `t[0]` is the main table; `t[1]` is the target while rehashing.
    t: [Table<V>; 2],
    /// Next bucket of `t[0]` to move while rehashing.
    rehash_idx: Option<usize>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict { t: [Table::empty(), Table::empty()], rehash_idx: None }
    }
}

const MIN_SIZE: usize = 4;
/// Buckets moved per write while rehashing.
const REHASH_STEPS: usize = 1;
/// Shrink when fewer than one key per this many buckets.
const MIN_FILL: usize = 8;

impl<V> Dict<V> {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.t[0].used + self.t[1].used
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets in both tables (for memory accounting).
    pub fn buckets(&self) -> usize {
        self.t[0].buckets.len() + self.t[1].buckets.len()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let h = hash_key(key);
        self.lookup(key, h).map(|n| &n.value)
    }

    fn lookup(&self, key: &[u8], h: u64) -> Option<&Node<V>> {
        self.t[0].find(key, h).or_else(|| if self.rehash_idx.is_some() { self.t[1].find(key, h) } else { None })
    }

    /// The stored key and value under `key`.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Str, &V)> {
        self.lookup(key, hash_key(key)).map(|n| (&n.key, &n.value))
    }

    /// Mutable access to the value under `key`.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let h = hash_key(key);
        let rehashing = self.rehash_idx.is_some();
        let [t0, t1] = &mut self.t;
        match t0.find_mut(key, h) {
            Some(n) => Some(&mut n.value),
            None if rehashing => t1.find_mut(key, h).map(|n| &mut n.value),
            None => None,
        }
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Str, value: V) -> Option<V> {
        self.rehash_step(REHASH_STEPS);
        let h = hash_key(&key);
        if let Some(v) = self.get_mut(&key) {
            return Some(std::mem::replace(v, value));
        }
        self.grow_if_needed();
        let node = Box::new(Node { key, value, next: None });
        let target = if self.rehash_idx.is_some() { 1 } else { 0 };
        self.t[target].push(node, h);
        None
    }

    /// Removes `key`; returns its stored key and value.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Str, V)> {
        self.rehash_step(REHASH_STEPS);
        let h = hash_key(key);
        let node = match self.t[0].remove(key, h) {
            Some(n) => Some(n),
            None if self.rehash_idx.is_some() => self.t[1].remove(key, h),
            None => None,
        }?;
        self.shrink_if_needed();
        let n = *node;
        Some((n.key, n.value))
    }

    /// Drops every entry and frees the tables.
    pub fn clear(&mut self) {
        *self = Dict::default();
    }

    fn grow_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.t[0].buckets.len();
        if size == 0 {
            self.t[0] = Table::with_size(MIN_SIZE);
        } else if self.t[0].used >= size {
            self.start_rehash((self.t[0].used + 1).next_power_of_two());
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.t[0].buckets.len();
        if size > MIN_SIZE && self.t[0].used * MIN_FILL < size {
            self.start_rehash(self.t[0].used.max(MIN_SIZE).next_power_of_two());
        }
    }

    fn start_rehash(&mut self, size: usize) {
        self.t[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    /// True while a resize is in progress (lookups then consult two tables).
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Moves up to `n` buckets from the old table to the new one. Returns true while rehashing.
    pub fn rehash_step(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else { return false };
        let mut empty_visits = n * 10;
        let mut moved = 0;
        while moved < n && self.t[0].used > 0 {
            while self.t[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut chain = self.t[0].buckets[idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let h = hash_key(&node.key);
                self.t[0].used -= 1;
                self.t[1].push(node, h);
            }
            idx += 1;
            moved += 1;
        }
        if self.t[0].used == 0 {
            self.t[0] = std::mem::replace(&mut self.t[1], Table::empty());
            self.rehash_idx = None;
            false
        } else {
            self.rehash_idx = Some(idx);
            true
        }
    }

    /// Visits every entry (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&Str, &V)> {
        self.t.iter().flat_map(|t| t.buckets.iter()).flat_map(|b| {
            let mut cur = b.as_deref();
            std::iter::from_fn(move || {
                let n = cur?;
                cur = n.next.as_deref();
                Some((&n.key, &n.value))
            })
        })
    }

    /// One SCAN step: calls `f` for the entries of the buckets at `cursor` and returns the next
    /// cursor (0 when the iteration is complete). Entries present for the whole iteration are
    /// visited at least once, however the table is resized between calls.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Str, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let visit = |t: &Table<V>, idx: u64, f: &mut dyn FnMut(&Str, &V)| {
            let mut cur = t.buckets[(idx & t.mask()) as usize].as_deref();
            while let Some(n) = cur {
                f(&n.key, &n.value);
                cur = n.next.as_deref();
            }
        };
        if self.rehash_idx.is_none() {
            let t = &self.t[0];
            let m = t.mask();
            visit(t, v, &mut f);
            v |= !m;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.t[0].buckets.len() <= self.t[1].buckets.len() {
                (&self.t[0], &self.t[1])
            } else {
                (&self.t[1], &self.t[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            visit(small, v, &mut f);
            loop {
                visit(large, v, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// A random entry, or `None` if empty. Buckets are picked uniformly, then a chain element.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&Str, &V)> {
        if self.is_empty() {
            return None;
        }
        loop {
            let total = self.buckets();
            let i = rng.random_range(0..total);
            let (t, idx) =
                if i < self.t[0].buckets.len() { (&self.t[0], i) } else { (&self.t[1], i - self.t[0].buckets.len()) };
            if self.rehash_idx.is_some_and(|r| std::ptr::eq(t, &self.t[0]) && idx < r) {
                continue; // already moved: always empty
            }
            let Some(head) = t.buckets[idx].as_deref() else { continue };
            let mut len = 0;
            let mut cur = Some(head);
            while let Some(n) = cur {
                len += 1;
                cur = n.next.as_deref();
            }
            let mut pick = rng.random_range(0..len);
            let mut cur = head;
            while pick > 0 {
                cur = cur.next.as_deref().expect("within chain length");
                pick -= 1;
            }
            return Some((&cur.key, &cur.value));
        }
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        // Unlink chains iteratively: dropping a long chain recursively could overflow the stack.
        for t in &mut self.t {
            for b in &mut t.buckets {
                let mut cur = b.take();
                while let Some(mut n) = cur {
                    cur = n.next.take();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn key(i: usize) -> Str {
        Str::new(format!("key:{i}").as_bytes())
    }

    #[test]
    fn behaves_like_a_map_through_growth_and_shrink() {
        let mut d = Dict::new();
        let mut model = HashMap::new();
        for i in 0..5000 {
            assert_eq!(d.insert(key(i), i), model.insert(key(i), i));
        }
        for i in (0..5000).step_by(3) {
            assert_eq!(d.remove(&key(i)).map(|(_, v)| v), model.remove(&key(i)));
        }
        for i in 0..5000 {
            assert_eq!(d.get(&key(i)), model.get(&key(i)));
        }
        assert_eq!(d.len(), model.len());
        assert_eq!(d.iter().count(), model.len());
        for i in 0..5000 {
            d.remove(&key(i));
        }
        assert!(d.is_empty());
        assert!(d.buckets() <= 64, "shrunk back, got {}", d.buckets());
    }

    #[test]
    fn scan_sees_every_stable_key_while_the_table_resizes() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(key(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut extra = 1000;
        let mut calls = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.clone());
            });
            calls += 1;
            assert!(calls < 100_000, "scan did not terminate");
            // Grow the table between calls (through several rehashes), then shrink it.
            if calls < 60 {
                for _ in 0..50 {
                    d.insert(key(extra), ());
                    extra += 1;
                }
            } else if calls < 120 {
                for _ in 0..50 {
                    extra -= 1;
                    if extra >= 1000 {
                        d.remove(&key(extra));
                    }
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(&key(i)), "missed key {i}");
        }
    }

    #[test]
    fn random_returns_present_entries() {
        let mut d = Dict::new();
        let mut rng = rand::rng();
        assert!(d.random(&mut rng).is_none());
        for i in 0..100 {
            d.insert(key(i), i);
        }
        for _ in 0..100 {
            let (k, v) = d.random(&mut rng).expect("non-empty");
            assert_eq!(*k, key(*v));
        }
    }
}
