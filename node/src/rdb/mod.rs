//! The Redis RDB format: one encoder and one decoder, shared by full-sync replication and
//! snapshots.
//!
//! Layout of a file (or of the payload of a full sync):
//!
//! ```text
//! "REDIS0010"  AUX*  ( FE db  FB size expires  ( [FC ms] type key value )* )*  FF  crc64-LE
//! ```
//!
//! - **Version.** We write version 10, what Redis 7.0 writes and the newest a 7.0 loader accepts;
//!   we read versions up to 11 (Redis 7.2, Valkey 7.2–8).
//! - **Strings** are `length + bytes`; a reader also meets integer encodings (`C0`–`C2`) and LZF
//!   compression (`C3`), both decoded here. We write plain strings: always valid, and cheap.
//! - **Checksum**: CRC-64/Jones over every byte before it ([`crc64`]). A stored 0 means "not
//!   computed", which readers accept, as Redis does.
//! - **Types**: strings (type 0) only, as the node has no other value types yet. A file holding
//!   another type is refused with an error naming it, never half loaded.
//!
//! What we deliberately do not do: write LZF (Redis readers never need it) or module data.

mod crc64;
mod lzf;

use std::io::{self, Write};

pub use crc64::crc64;

/// Version we write.
pub const VERSION: u32 = 10;
/// Newest version we read.
pub const MAX_READ_VERSION: u32 = 11;

const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_FUNCTION2: u8 = 0xF5;
const TYPE_STRING: u8 = 0;

/// Why an RDB payload could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RdbError {
    /// The payload does not start with `REDIS` and four digits.
    #[error("not an RDB payload (bad header)")]
    BadHeader,
    /// A version newer than we understand.
    #[error("can't handle RDB format version {0}")]
    Version(u32),
    /// The payload ends early.
    #[error("RDB payload truncated at byte {0}")]
    Truncated(usize),
    /// The stored checksum does not match.
    #[error("RDB checksum mismatch: stored {stored:016x}, computed {computed:016x}")]
    Checksum {
        /// The checksum in the file.
        stored: u64,
        /// The checksum of the bytes read.
        computed: u64,
    },
    /// A value type this node cannot store yet.
    #[error("RDB value type {0} is not supported yet (this node stores strings only)")]
    UnsupportedType(u8),
    /// Module data, which needs the module.
    #[error("RDB contains module data, which this node cannot load")]
    Module,
    /// Anything else malformed.
    #[error("malformed RDB: {0}")]
    Malformed(&'static str),
}

/// One item of an RDB payload, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An auxiliary field (`redis-ver`, `repl-id`, ...).
    Aux(Vec<u8>, Vec<u8>),
    /// Following entries belong to this database.
    SelectDb(usize),
    /// A string key.
    String {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Absolute expiry in unix milliseconds, if any.
        expire_ms: Option<i64>,
    },
}

/// Writes an RDB payload to `W`, computing the checksum as it goes.
pub struct Writer<W: Write> {
    out: W,
    crc: u64,
    written: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a payload: writes the header.
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = Writer { out, crc: 0, written: 0 };
        w.raw(format!("REDIS{VERSION:04}").as_bytes())?;
        Ok(w)
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc64::update(self.crc, b);
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 1 << 6 {
            self.raw(&[n as u8])
        } else if n < 1 << 14 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u32::MAX as u64 {
            self.raw(&[0x80])?;
            self.raw(&(n as u32).to_be_bytes())
        } else {
            self.raw(&[0x81])?;
            self.raw(&n.to_be_bytes())
        }
    }

    fn string(&mut self, s: &[u8]) -> io::Result<()> {
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    /// An auxiliary field.
    pub fn aux(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        self.raw(&[OP_AUX])?;
        self.string(key.as_bytes())?;
        self.string(value)
    }

    /// Starts database `db`, announcing its sizes (hints for the loader's tables).
    pub fn select_db(&mut self, db: usize, size: usize, expires: usize) -> io::Result<()> {
        self.raw(&[OP_SELECTDB])?;
        self.len(db as u64)?;
        self.raw(&[OP_RESIZEDB])?;
        self.len(size as u64)?;
        self.len(expires as u64)
    }

    /// A string key with its value and optional absolute expiry (unix ms).
    pub fn string_entry(&mut self, key: &[u8], value: &[u8], expire_ms: Option<i64>) -> io::Result<()> {
        if let Some(ms) = expire_ms {
            self.raw(&[OP_EXPIRETIME_MS])?;
            self.raw(&ms.to_le_bytes())?;
        }
        self.raw(&[TYPE_STRING])?;
        self.string(key)?;
        self.string(value)
    }

    /// Ends the payload (EOF opcode and checksum); returns the writer and bytes written.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.raw(&[OP_EOF])?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        Ok((self.out, self.written + 8))
    }
}

/// A cursor over a complete payload.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(RdbError::Truncated(self.pos))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    /// A length, or the special-encoding tag in `Err`-free form: `(value, is_encoded)`.
    fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => ((first & 0x3F) as u64, false),
            1 => ((((first & 0x3F) as u64) << 8) | self.byte()? as u64, false),
            2 => match first {
                0x80 => (u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as u64, false),
                0x81 => (u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")), false),
                _ => return Err(RdbError::Malformed("unknown length encoding")),
            },
            _ => ((first & 0x3F) as u64, true),
        })
    }

    fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            (_, true) => Err(RdbError::Malformed("encoded value where a length was expected")),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let (n, encoded) = self.len_or_enc()?;
        if !encoded {
            return Ok(self.take(usize::try_from(n).map_err(|_| RdbError::Malformed("string too long"))?)?.to_vec());
        }
        match n {
            0 => Ok((self.byte()? as i8).to_string().into_bytes()),
            1 => Ok(i16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")).to_string().into_bytes()),
            2 => Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")).to_string().into_bytes()),
            3 => {
                let clen = self.len()? as usize;
                let ulen = self.len()? as usize;
                let data = self.take(clen)?;
                lzf::decompress(data, ulen).ok_or(RdbError::Malformed("bad LZF data"))
            }
            _ => Err(RdbError::Malformed("unknown string encoding")),
        }
    }
}

/// Reads a complete payload, calling `sink` for every item in order. The checksum is verified
/// before the first item is delivered, so a corrupt payload delivers nothing.
pub fn read(payload: &[u8], mut sink: impl FnMut(Item)) -> Result<(), RdbError> {
    if payload.len() < 9 || &payload[..5] != b"REDIS" {
        return Err(RdbError::BadHeader);
    }
    let version: u32 =
        std::str::from_utf8(&payload[5..9]).ok().and_then(|v| v.parse().ok()).ok_or(RdbError::BadHeader)?;
    if version > MAX_READ_VERSION {
        return Err(RdbError::Version(version));
    }
    // First pass: find EOF and check the checksum; second pass: deliver.
    let items = parse(payload, version)?;
    for i in items {
        sink(i);
    }
    Ok(())
}

fn parse(payload: &[u8], version: u32) -> Result<Vec<Item>, RdbError> {
    let mut c = Cursor { b: payload, pos: 9 };
    let mut items = Vec::new();
    let mut expire: Option<i64> = None;
    loop {
        let op = c.byte()?;
        match op {
            OP_EOF => break,
            OP_AUX => {
                let k = c.string()?;
                let v = c.string()?;
                items.push(Item::Aux(k, v));
            }
            OP_SELECTDB => items.push(Item::SelectDb(c.len()? as usize)),
            OP_RESIZEDB => {
                c.len()?;
                c.len()?;
            }
            OP_EXPIRETIME_MS => expire = Some(i64::from_le_bytes(c.take(8)?.try_into().expect("8 bytes"))),
            OP_EXPIRETIME => expire = Some(i32::from_le_bytes(c.take(4)?.try_into().expect("4 bytes")) as i64 * 1000),
            OP_IDLE => {
                c.len()?;
            }
            OP_FREQ => {
                c.byte()?;
            }
            OP_FUNCTION2 => {
                c.string()?;
            }
            OP_FUNCTION_PRE_GA | OP_MODULE_AUX => return Err(RdbError::Module),
            TYPE_STRING => {
                let key = c.string()?;
                let value = c.string()?;
                items.push(Item::String { key, value, expire_ms: expire.take() });
            }
            other => return Err(RdbError::UnsupportedType(other)),
        }
    }
    let covered = c.pos;
    if version >= 5 {
        let stored = u64::from_le_bytes(c.take(8)?.try_into().expect("8 bytes"));
        let computed = crc64(&payload[..covered]);
        if stored != 0 && stored != computed {
            return Err(RdbError::Checksum { stored, computed });
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new()).expect("vec");
        w.aux("redis-ver", b"7.0.15").expect("vec");
        w.select_db(0, 2, 1).expect("vec");
        w.string_entry(b"k", b"v", None).expect("vec");
        w.string_entry(&[b'x'; 100], &[7u8; 20000], Some(1_900_000_000_000)).expect("vec");
        w.select_db(3, 1, 0).expect("vec");
        w.string_entry(b"", b"", None).expect("vec");
        w.finish().expect("vec").0
    }

    #[test]
    fn writes_and_reads_back() {
        let bytes = sample();
        let mut items = Vec::new();
        read(&bytes, |i| items.push(i)).expect("valid");
        assert_eq!(items[0], Item::Aux(b"redis-ver".to_vec(), b"7.0.15".to_vec()));
        assert_eq!(items[1], Item::SelectDb(0));
        assert_eq!(items[2], Item::String { key: b"k".to_vec(), value: b"v".to_vec(), expire_ms: None });
        assert_eq!(
            items[3],
            Item::String { key: vec![b'x'; 100], value: vec![7u8; 20000], expire_ms: Some(1_900_000_000_000) }
        );
        assert_eq!(items[4], Item::SelectDb(3));
        assert_eq!(items.len(), 6);
    }

    #[test]
    fn empty_payload_matches_redis_bytes() {
        let (bytes, n) = Writer::new(Vec::new()).expect("vec").finish().expect("vec");
        assert_eq!(hex(&bytes), "524544495330303130ffa9fd37fe89a77eeb");
        assert_eq!(n, 18);
    }

    #[test]
    fn corruption_is_detected_and_delivers_nothing() {
        let mut bytes = sample();
        let i = bytes.len() - 20;
        bytes[i] ^= 1;
        let mut delivered = 0;
        let e = read(&bytes, |_| delivered += 1).expect_err("corrupt");
        assert!(matches!(e, RdbError::Checksum { .. }), "{e}");
        assert_eq!(delivered, 0);
        let short = &sample()[..30];
        assert!(matches!(read(short, |_| {}), Err(RdbError::Truncated(_))));
        assert_eq!(read(b"REDIS0012\xff", |_| {}), Err(RdbError::Version(12)));
        assert_eq!(read(b"HELLO", |_| {}), Err(RdbError::BadHeader));
    }

    #[test]
    fn reads_integer_encodings() {
        // Hand-built: C0 (int8 -5), C1 (int16 300), C2 (int32 70000) values; checksum disabled.
        let mut b = b"REDIS0010".to_vec();
        for (k, enc) in
            [(&b"a"[..], &[0xC0u8, 0xFB][..]), (b"b", &[0xC1, 0x2C, 0x01]), (b"c", &[0xC2, 0x70, 0x11, 0x01, 0x00])]
        {
            b.push(0);
            b.push(1);
            b.extend_from_slice(k);
            b.extend_from_slice(enc);
        }
        b.push(0xFF);
        b.extend_from_slice(&[0; 8]);
        let mut values = Vec::new();
        read(&b, |i| {
            if let Item::String { value, .. } = i {
                values.push(String::from_utf8(value).expect("digits"));
            }
        })
        .expect("valid");
        assert_eq!(values, vec!["-5", "300", "70000"]);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
