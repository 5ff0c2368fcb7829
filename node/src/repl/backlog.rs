//! The replication backlog: the last `size` bytes of the replication stream, so a replica that
//! reconnects can continue from its offset instead of copying the whole dataset again.
//!
//! Offsets are stream byte positions, as in Redis: the byte at offset `o` is the `o`-th byte ever
//! written to the stream (the first byte has offset 1). The backlog holds offsets
//! `first_byte ..= first_byte + histlen - 1`, and `first_byte + histlen - 1 == master_repl_offset`.

use std::collections::VecDeque;

/// A bounded window of the stream.
#[derive(Debug)]
pub struct Backlog {
    buf: VecDeque<u8>,
    size: usize,
    /// Offset of the oldest byte held.
    first_byte: i64,
}

impl Backlog {
    /// An empty backlog of `size` bytes whose next byte will have offset `next_offset`.
    pub fn new(size: usize, next_offset: i64) -> Backlog {
        Backlog { buf: VecDeque::new(), size: size.max(1), first_byte: next_offset }
    }

    /// Appends stream bytes, dropping the oldest beyond the size.
    pub fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let excess = self.buf.len().saturating_sub(self.size);
        if excess > 0 {
            self.buf.drain(..excess);
            self.first_byte += excess as i64;
        }
    }

    /// Offset of the oldest byte held (`repl_backlog_first_byte_offset`).
    pub fn first_byte(&self) -> i64 {
        self.first_byte
    }

    /// Bytes held (`repl_backlog_histlen`).
    pub fn histlen(&self) -> usize {
        self.buf.len()
    }

    /// Configured size (`repl_backlog_size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Changes the size, keeping the newest bytes.
    pub fn resize(&mut self, size: usize) {
        self.size = size.max(1);
        self.append(&[]);
    }

    /// The bytes from offset `from` to the end, if the backlog still holds them
    /// (`from == end + 1` is valid and yields nothing).
    pub fn since(&self, from: i64) -> Option<Vec<u8>> {
        let end = self.first_byte + self.buf.len() as i64;
        if from < self.first_byte || from > end {
            return None;
        }
        Some(self.buf.range((from - self.first_byte) as usize..).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_with_their_offsets() {
        let mut b = Backlog::new(8, 1);
        b.append(b"abcdef");
        assert_eq!(b.since(1).as_deref(), Some(&b"abcdef"[..]));
        assert_eq!(b.since(4).as_deref(), Some(&b"def"[..]));
        assert_eq!(b.since(7).as_deref(), Some(&b""[..]));
        assert_eq!(b.since(8), None);
        b.append(b"ghij");
        assert_eq!(b.first_byte(), 3);
        assert_eq!(b.histlen(), 8);
        assert_eq!(b.since(2), None, "overwritten");
        assert_eq!(b.since(3).as_deref(), Some(&b"cdefghij"[..]));
        assert_eq!(b.first_byte() + b.histlen() as i64 - 1, 10, "first + histlen - 1 == offset");
    }
}
