//! RESP frames and their encoding.
//!
//! A [`Frame`] is one value on the wire, in RESP2 or RESP3. RESP2 has five types (simple string,
//! error, integer, bulk string, array, plus the two nulls `$-1` and `*-1`); RESP3 adds null, double,
//! boolean, big number, blob error, verbatim string, map, set, attribute and push. Which ones a
//! server may send depends on the protocol the connection negotiated with `HELLO`; choosing the
//! right shape is the server's job, this module only writes what it is given.
//!
//! Bulk payloads are [`Bytes`], so a frame parsed out of a read buffer shares that buffer instead
//! of copying it.

use bytes::{BufMut, Bytes, BytesMut};

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK\r\n`
    Simple(Bytes),
    /// `-ERR message\r\n` (the bytes exclude the leading `-`).
    Error(Bytes),
    /// `:42\r\n`
    Integer(i64),
    /// `$5\r\nhello\r\n`
    Bulk(Bytes),
    /// RESP2 null bulk string, `$-1\r\n`.
    NullBulk,
    /// RESP2 null array, `*-1\r\n`.
    NullArray,
    /// RESP3 null, `_\r\n`.
    Null,
    /// `*N\r\n` followed by N frames.
    Array(Vec<Frame>),
    /// RESP3 `%N\r\n` followed by N key/value pairs.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~N\r\n` followed by N frames.
    Set(Vec<Frame>),
    /// RESP3 `,1.5\r\n` (also `inf`, `-inf`, `nan`).
    Double(f64),
    /// RESP3 `#t\r\n` / `#f\r\n`.
    Boolean(bool),
    /// RESP3 `(12345678901234567890\r\n` (the digits, unparsed).
    BigNumber(Bytes),
    /// RESP3 `!<len>\r\n<CODE message>\r\n`.
    BlobError(Bytes),
    /// RESP3 `=<len>\r\ntxt:<text>\r\n`: a three-byte format and the text.
    Verbatim {
        /// Format such as `txt` or `mkd`.
        format: [u8; 3],
        /// The text after the `xxx:` prefix.
        text: Bytes,
    },
    /// RESP3 `>N\r\n` out-of-band data (pub/sub messages, invalidations).
    Push(Vec<Frame>),
    /// RESP3 `|N\r\n` pairs of metadata, followed by the frame they describe.
    Attribute {
        /// The metadata pairs.
        attrs: Vec<(Frame, Frame)>,
        /// The frame the attributes belong to.
        frame: Box<Frame>,
    },
}

impl Frame {
    /// A simple string from static text, e.g. `Frame::simple("OK")`.
    pub fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// A bulk string copied from a slice.
    pub fn bulk(b: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    /// An error frame from its full text, e.g. `Frame::error("ERR syntax error")`.
    pub fn error(s: impl AsRef<[u8]>) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_ref()))
    }

    /// True for the three null shapes.
    pub fn is_null(&self) -> bool {
        matches!(self, Frame::Null | Frame::NullBulk | Frame::NullArray)
    }

    /// The payload of a simple string, bulk string or verbatim string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::BigNumber(b) => Some(b),
            Frame::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The text of an error frame (either error type), lossily decoded.
    pub fn as_error(&self) -> Option<String> {
        match self {
            Frame::Error(b) | Frame::BlobError(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Appends the wire encoding of this frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => int_line(out, b':', *n),
            Frame::Bulk(b) => blob(out, b'$', b),
            Frame::NullBulk => out.put_slice(b"$-1\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Null => out.put_slice(b"_\r\n"),
            Frame::Array(items) => seq(out, b'*', items),
            Frame::Set(items) => seq(out, b'~', items),
            Frame::Push(items) => seq(out, b'>', items),
            Frame::Map(pairs) => pairs_of(out, b'%', pairs),
            Frame::Double(d) => {
                out.put_u8(b',');
                write_double(out, *d);
                out.put_slice(b"\r\n");
            }
            Frame::Boolean(b) => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(n) => line(out, b'(', n),
            Frame::BlobError(e) => blob(out, b'!', e),
            Frame::Verbatim { format, text } => {
                int_line(out, b'=', (text.len() + 4) as i64);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Frame::Attribute { attrs, frame } => {
                pairs_of(out, b'|', attrs);
                frame.encode(out);
            }
        }
    }

    /// The wire encoding as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

fn line(out: &mut BytesMut, prefix: u8, s: &[u8]) {
    out.put_u8(prefix);
    out.put_slice(s);
    out.put_slice(b"\r\n");
}

/// Writes `<prefix><n>\r\n`.
pub fn int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(b.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn blob(out: &mut BytesMut, prefix: u8, b: &[u8]) {
    int_line(out, prefix, b.len() as i64);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn seq(out: &mut BytesMut, prefix: u8, items: &[Frame]) {
    int_line(out, prefix, items.len() as i64);
    for item in items {
        item.encode(out);
    }
}

fn pairs_of(out: &mut BytesMut, prefix: u8, pairs: &[(Frame, Frame)]) {
    int_line(out, prefix, pairs.len() as i64);
    for (k, v) in pairs {
        k.encode(out);
        v.encode(out);
    }
}

/// Writes a double the way Redis does on the wire: `inf`, `-inf`, `nan`, integers without a
/// fraction, otherwise the shortest text that reads back to the same value.
pub fn write_double(out: &mut BytesMut, d: f64) {
    if d.is_nan() {
        out.put_slice(b"nan");
    } else if d.is_infinite() {
        out.put_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else if d == d.trunc() && d.abs() < 1e17 {
        let mut b = itoa::Buffer::new();
        if d == 0.0 && d.is_sign_negative() {
            out.put_slice(b"-0");
        } else {
            out.put_slice(b.format(d as i64).as_bytes());
        }
    } else {
        let mut b = ryu::Buffer::new();
        out.put_slice(b.format_finite(d).as_bytes());
    }
}

/// Encodes a request: an array of bulk strings, the only shape a client sends.
pub fn encode_request<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    int_line(out, b'*', args.len() as i64);
    for a in args {
        blob(out, b'$', a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: Frame) -> Vec<u8> {
        f.to_bytes().to_vec()
    }

    #[test]
    fn resp2_shapes_match_redis_bytes() {
        assert_eq!(enc(Frame::simple("OK")), b"+OK\r\n");
        assert_eq!(enc(Frame::error("ERR x")), b"-ERR x\r\n");
        assert_eq!(enc(Frame::Integer(-7)), b":-7\r\n");
        assert_eq!(enc(Frame::bulk("hi")), b"$2\r\nhi\r\n");
        assert_eq!(enc(Frame::NullBulk), b"$-1\r\n");
        assert_eq!(enc(Frame::NullArray), b"*-1\r\n");
        assert_eq!(enc(Frame::Array(vec![Frame::Integer(1), Frame::bulk("")])), b"*2\r\n:1\r\n$0\r\n\r\n");
    }

    #[test]
    fn resp3_shapes_match_redis_bytes() {
        assert_eq!(enc(Frame::Null), b"_\r\n");
        assert_eq!(enc(Frame::Double(1.5)), b",1.5\r\n");
        assert_eq!(enc(Frame::Double(3.0)), b",3\r\n");
        assert_eq!(enc(Frame::Double(f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc(Frame::Boolean(true)), b"#t\r\n");
        assert_eq!(enc(Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"hi") }), b"=6\r\ntxt:hi\r\n");
        assert_eq!(enc(Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))])), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Frame::Push(vec![Frame::bulk("m")])), b">1\r\n$1\r\nm\r\n");
    }
}
