//! Replies, and how each is written in RESP2 and RESP3.
//!
//! A command returns a [`Reply`]; it never writes to a socket. The connection encodes it for the
//! protocol the client negotiated: a map becomes a flat array in RESP2, a set an array, a double a
//! bulk string, a boolean an integer, a null the `$-1`/`*-1` the command would send in RESP2.
//! Short string values ([`Str`] inline) are carried by value, so `GET` of a small key allocates
//! nothing.

use bytes::{BufMut, Bytes, BytesMut};
use vigil_proto::frame::{int_line, write_double};

use crate::db::Str;
use crate::error::CmdError;

/// A reply to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A simple string from static text.
    Status(&'static str),
    /// A simple string built at run time.
    StatusOwned(String),
    /// An error.
    Error(CmdError),
    /// `:n`
    Int(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// A bulk string copied out of the keyspace.
    Value(Str),
    /// Null bulk in RESP2 (`$-1`), `_` in RESP3.
    Nil,
    /// Null array in RESP2 (`*-1`), `_` in RESP3.
    NilArray,
    /// An array.
    Array(Vec<Reply>),
    /// A map (flat array in RESP2).
    Map(Vec<(Reply, Reply)>),
    /// A set (array in RESP2).
    Set(Vec<Reply>),
    /// A double (bulk string in RESP2).
    Double(f64),
    /// A boolean (`:1`/`:0` in RESP2).
    Bool(bool),
    /// Verbatim text (`=` in RESP3, bulk in RESP2), e.g. INFO.
    Verbatim(String),
    /// An out-of-band push (array in RESP2), e.g. a pub/sub message.
    Push(Vec<Reply>),
    /// Several replies written back to back (SUBSCRIBE to N channels answers N times).
    Multi(Vec<Reply>),
    /// Nothing is written (e.g. the client is being closed).
    None,
}

impl Reply {
    /// A bulk string from static bytes.
    pub fn bulk_static(s: &'static [u8]) -> Reply {
        Reply::Bulk(Bytes::from_static(s))
    }

    /// A bulk string copied from a slice.
    pub fn bulk(s: &[u8]) -> Reply {
        if s.len() <= crate::db::sbytes::INLINE_CAP {
            Reply::Value(Str::new(s))
        } else {
            Reply::Bulk(Bytes::copy_from_slice(s))
        }
    }

    /// A bulk string from owned text.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Bulk(Bytes::from(s.into()))
    }

    /// True if this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply for protocol `resp` (2 or 3) to `out`.
    pub fn encode(&self, resp: u8, out: &mut BytesMut) {
        let r3 = resp >= 3;
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Status(s) => status(out, s.as_bytes()),
            Reply::StatusOwned(s) => status(out, s.as_bytes()),
            Reply::Error(e) => {
                out.put_u8(b'-');
                e.write_to(out);
                out.put_slice(b"\r\n");
            }
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Value(s) => bulk(out, s),
            Reply::Nil => out.put_slice(if r3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.put_slice(if r3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => seq(out, b'*', items, resp),
            Reply::Set(items) => seq(out, if r3 { b'~' } else { b'*' }, items, resp),
            Reply::Push(items) => seq(out, if r3 { b'>' } else { b'*' }, items, resp),
            Reply::Map(pairs) => {
                if r3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', pairs.len() as i64 * 2);
                }
                for (k, v) in pairs {
                    k.encode(resp, out);
                    v.encode(resp, out);
                }
            }
            Reply::Double(d) => {
                if r3 {
                    out.put_u8(b',');
                    write_double(out, *d);
                    out.put_slice(b"\r\n");
                } else {
                    let mut tmp = BytesMut::new();
                    write_double(&mut tmp, *d);
                    bulk(out, &tmp);
                }
            }
            Reply::Bool(b) => {
                if r3 {
                    out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(text) => {
                if r3 {
                    int_line(out, b'=', text.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Multi(items) => {
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::None => {}
        }
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Reply {
        Reply::Error(e)
    }
}

impl From<Result<Reply, CmdError>> for Reply {
    fn from(r: Result<Reply, CmdError>) -> Reply {
        r.unwrap_or_else(Reply::Error)
    }
}

fn status(out: &mut BytesMut, s: &[u8]) {
    out.put_u8(b'+');
    out.put_slice(s);
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, b: &[u8]) {
    int_line(out, b'$', b.len() as i64);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn seq(out: &mut BytesMut, prefix: u8, items: &[Reply], resp: u8) {
    int_line(out, prefix, items.len() as i64);
    for i in items {
        i.encode(resp, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, resp: u8) -> Vec<u8> {
        let mut out = BytesMut::new();
        r.encode(resp, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_downgrades() {
        let map = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]);
        assert_eq!(enc(map.clone(), 2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(map, 3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Nil, 2), b"$-1\r\n");
        assert_eq!(enc(Reply::NilArray, 2), b"*-1\r\n");
        assert_eq!(enc(Reply::Nil, 3), b"_\r\n");
        assert_eq!(enc(Reply::Double(1.5), 2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::Bool(true), 2), b":1\r\n");
        assert_eq!(enc(Reply::Verbatim("x".into()), 3), b"=5\r\ntxt:x\r\n");
        assert_eq!(enc(Reply::Push(vec![Reply::Int(1)]), 3), b">1\r\n:1\r\n");
    }
}
