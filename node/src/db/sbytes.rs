//! `Str`: the byte string the keyspace stores for keys and string values.
//!
//! Most keys and many values are short. A `Str` keeps up to 22 bytes inline, in the 24 bytes the
//! type itself occupies, so the common key costs no allocation of its own. Longer strings live on
//! the heap, exactly sized; a string that is appended to (`APPEND`, `SETRANGE`) switches to a
//! growable buffer so repeated appends stay amortised O(1), like Redis's sds.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes that fit inline.
pub const INLINE_CAP: usize = 22;

/// A byte string, inline when short.
#[derive(Clone)]
pub enum Str {
    /// Up to [`INLINE_CAP`] bytes, stored in place.
    Inline {
        /// Number of bytes used.
        len: u8,
        /// The bytes; only `..len` is meaningful.
        buf: [u8; INLINE_CAP],
    },
    /// An exactly sized heap string.
    Heap(Box<[u8]>),
    /// A heap string with spare capacity, for strings that grow.
    Growable(Box<Vec<u8>>),
}

impl Str {
    /// Copies `b` into a new string.
    pub fn new(b: &[u8]) -> Str {
        if b.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..b.len()].copy_from_slice(b);
            Str::Inline { len: b.len() as u8, buf }
        } else {
            Str::Heap(b.into())
        }
    }

    /// The empty string.
    pub fn empty() -> Str {
        Str::Inline { len: 0, buf: [0; INLINE_CAP] }
    }

    /// The decimal text of `n`.
    pub fn from_i64(n: i64) -> Str {
        Str::new(itoa::Buffer::new().format(n).as_bytes())
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Str::Inline { len, buf } => &buf[..*len as usize],
            Str::Heap(b) => b,
            Str::Growable(v) => v,
        }
    }

    /// A growable buffer holding these bytes, for in-place edits.
    pub fn make_growable(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Str::Growable(_)) {
            let v = self.as_slice().to_vec();
            *self = Str::Growable(Box::new(v));
        }
        match self {
            Str::Growable(v) => v,
            _ => unreachable!("just made growable"),
        }
    }

    /// Heap bytes owned by this string beyond its own 24 bytes (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Inline { .. } => 0,
            Str::Heap(b) => b.len(),
            Str::Growable(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
        }
    }
}

impl Deref for Str {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Str {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Str {}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for Str {
    fn from(b: &[u8]) -> Str {
        Str::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
    }

    #[test]
    fn inline_and_heap_agree() {
        let short = Str::new(b"hello");
        assert!(matches!(short, Str::Inline { .. }));
        let long = Str::new(&[7u8; 100]);
        assert!(matches!(long, Str::Heap(_)));
        assert_eq!(&*short, b"hello");
        assert_eq!(long.len(), 100);
        let mut g = short.clone();
        g.make_growable().extend_from_slice(b" world");
        assert_eq!(&*g, b"hello world");
        assert_eq!(g, Str::new(b"hello world"));
    }
}
