//! Server-side request parsing: multibulk arrays and inline commands, with Redis 7's limits.
//!
//! A client sends either a RESP array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or an
//! inline line (`GET k\r\n`, what `telnet` sends). [`RequestParser::parse`] takes one command off
//! the front of the read buffer. It is resumable: a command whose arguments arrive over many reads
//! is parsed argument by argument as they come, and consumed bytes are split off the buffer, so
//! nothing is parsed twice. Arguments are [`Bytes`] slices of the read buffer: no copy.
//!
//! Violations give the exact errors of Redis 7 (see [`ProtoError`]); Redis answers them with
//! `-ERR Protocol error: ...` and closes the connection, which is the caller's job.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtoError;

/// Longest inline request or header line (Redis `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Redis's cap on a multibulk count (`INT_MAX`).
const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// An unauthenticated client may send at most this many arguments ...
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// ... each at most this long.
pub const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// Limits that apply to one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len` (default 512 MiB).
    pub max_bulk_len: i64,
    /// True while a password is required and the client has not authenticated.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, unauthenticated: false }
    }
}

/// Resumable parser for client requests.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments of the multibulk request being read, if one is in progress.
    args: Vec<Bytes>,
    /// Arguments still expected; 0 when no multibulk request is in progress.
    remaining: i64,
    /// Length of the bulk whose header was read but whose payload has not fully arrived.
    bulk_len: Option<usize>,
}

impl RequestParser {
    /// A parser with no request in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes the parser knows it still needs for the current argument (a read-size hint).
    pub fn wanted(&self) -> usize {
        self.bulk_len.map_or(0, |n| n + 2)
    }

    /// Parses one request off `buf`. On success `out` is cleared and holds the arguments, and
    /// `true` is returned; `false` means more bytes are needed (or only blank lines were read).
    pub fn parse(&mut self, buf: &mut BytesMut, limits: Limits, out: &mut Vec<Bytes>) -> Result<bool, ProtoError> {
        loop {
            if self.remaining == 0 {
                if buf.is_empty() {
                    return Ok(false);
                }
                if buf[0] != b'*' {
                    match parse_inline(buf, out)? {
                        Inline::Incomplete => return Ok(false),
                        Inline::Empty => continue,
                        Inline::Command => return Ok(true),
                    }
                }
                let Some(n) = header(buf, ProtoError::TooBigMultibulkCount)? else {
                    return Ok(false);
                };
                let n = n.ok_or(ProtoError::InvalidMultibulkLength)?;
                if n > MAX_MULTIBULK {
                    return Err(ProtoError::InvalidMultibulkLength);
                }
                if limits.unauthenticated && n > UNAUTH_MAX_ARGS {
                    return Err(ProtoError::UnauthenticatedMultibulkLength);
                }
                if n <= 0 {
                    continue;
                }
                self.remaining = n;
                self.args.clear();
                self.args.reserve((n as usize).min(1024));
            }
            while self.remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        if buf.is_empty() {
                            return Ok(false);
                        }
                        if buf[0] != b'$' {
                            return Err(ProtoError::ExpectedDollar(buf[0]));
                        }
                        let Some(n) = header(buf, ProtoError::TooBigBulkCount)? else {
                            return Ok(false);
                        };
                        let n = n.ok_or(ProtoError::InvalidBulkLength)?;
                        if n < 0 || n > limits.max_bulk_len {
                            return Err(ProtoError::InvalidBulkLength);
                        }
                        if limits.unauthenticated && n > UNAUTH_MAX_BULK {
                            return Err(ProtoError::UnauthenticatedBulkLength);
                        }
                        self.bulk_len = Some(n as usize);
                        n as usize
                    }
                };
                if buf.len() < len + 2 {
                    // Grow towards the announced size, but never on the word of a header alone
                    // by more than 1 MiB at a time: the bytes have to arrive first.
                    buf.reserve((len + 2 - buf.len()).min(1 << 20));
                    return Ok(false);
                }
                // Like Redis, the two bytes after the payload are skipped, not checked.
                let arg = buf.split_to(len).freeze();
                buf.advance(2);
                self.args.push(arg);
                self.bulk_len = None;
                self.remaining -= 1;
            }
            out.clear();
            std::mem::swap(out, &mut self.args);
            return Ok(true);
        }
    }
}

/// Reads a `*N\r\n` or `$N\r\n` header. `Ok(None)`: incomplete. `Ok(Some(None))`: not a number.
fn header(buf: &mut BytesMut, too_big: ProtoError) -> Result<Option<Option<i64>>, ProtoError> {
    let Some(cr) = buf.iter().position(|&c| c == b'\r') else {
        return if buf.len() > INLINE_MAX { Err(too_big) } else { Ok(None) };
    };
    if cr > INLINE_MAX {
        return Err(too_big);
    }
    if buf.len() < cr + 2 {
        return Ok(None);
    }
    let n = parse_i64(&buf[1..cr]);
    buf.advance(cr + 2);
    Ok(Some(n))
}

/// Strict decimal parse as Redis's `string2ll`: optional `-`, digits, no leading `+` or zeros.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = if b[0] == b'-' { (true, &b[1..]) } else { (false, b) };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(d)? } else { v.checked_mul(10)?.checked_add(d)? };
    }
    Some(v)
}

enum Inline {
    Incomplete,
    Empty,
    Command,
}

fn parse_inline(buf: &mut BytesMut, out: &mut Vec<Bytes>) -> Result<Inline, ProtoError> {
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        return if buf.len() > INLINE_MAX { Err(ProtoError::TooBigInline) } else { Ok(Inline::Incomplete) };
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    out.clear();
    split_args(line, out).ok_or(ProtoError::UnbalancedQuotes)?;
    Ok(if out.is_empty() { Inline::Empty } else { Inline::Command })
}

/// Splits an inline line the way Redis's `sdssplitargs` does: whitespace-separated words,
/// `"..."` with C escapes (`\n`, `\xHH`, ...) and `'...'` with only `\'`. A closing quote must be
/// followed by whitespace or the end. Returns `None` for unbalanced quotes.
pub fn split_args(line: &[u8], out: &mut Vec<Bytes>) -> Option<()> {
    // Redis splits a C string: a NUL byte ends the line.
    let line = line.split(|&c| c == 0).next().unwrap_or_default();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(());
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex(line[i + 2]).is_some()
                    && hex(line[i + 3]).is_some()
                {
                    cur.push(hex(line[i + 2])? * 16 + hex(line[i + 3])?);
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(Bytes::from(cur));
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(input: &[u8], limits: Limits) -> Result<Option<Vec<Vec<u8>>>, ProtoError> {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        Ok(p.parse(&mut buf, limits, &mut out)?.then(|| out.iter().map(|b| b.to_vec()).collect()))
    }

    fn err_text(input: &[u8], limits: Limits) -> String {
        parse_one(input, limits).expect_err("should fail").to_string()
    }

    #[test]
    fn multibulk_arrives_byte_by_byte() {
        let whole = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for (i, &b) in whole.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let done = p.parse(&mut buf, Limits::default(), &mut out).expect("valid");
            assert_eq!(done, i + 1 == whole.len(), "at byte {i}");
        }
        assert_eq!(out, vec![Bytes::from_static(b"GET"), Bytes::from_static(b"hello")]);
        assert!(buf.is_empty());
    }

    #[test]
    fn inline_with_quotes_and_escapes() {
        let got = parse_one(b"SET inl \"a b\\x41\\n\" 'c\\'d'\r\n", Limits::default()).expect("ok").expect("complete");
        assert_eq!(got, vec![b"SET".to_vec(), b"inl".to_vec(), b"a bA\n".to_vec(), b"c'd".to_vec()]);
        let lf_only = parse_one(b"PING\n", Limits::default()).expect("ok").expect("complete");
        assert_eq!(lf_only, vec![b"PING".to_vec()]);
    }

    #[test]
    fn redis_error_strings() {
        let l = Limits::default();
        assert_eq!(err_text(b"*x\r\n", l), "Protocol error: invalid multibulk length");
        assert_eq!(err_text(b"*3000000000\r\n", l), "Protocol error: invalid multibulk length");
        assert_eq!(err_text(b"*1\r\n$-5\r\n", l), "Protocol error: invalid bulk length");
        assert_eq!(err_text(b"*1\r\n$600000000\r\n", l), "Protocol error: invalid bulk length");
        assert_eq!(err_text(b"*1\r\n+foo\r\n", l), "Protocol error: expected '$', got '+'");
        assert_eq!(err_text(b"GET \"abc\r\n", l), "Protocol error: unbalanced quotes in request");
        assert_eq!(err_text(&vec![b'a'; INLINE_MAX + 1], l), "Protocol error: too big inline request");
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(err_text(&big, l), "Protocol error: too big mbulk count string");
        let unauth = Limits { unauthenticated: true, ..l };
        assert_eq!(err_text(b"*11\r\n", unauth), "Protocol error: unauthenticated multibulk length");
        assert_eq!(err_text(b"*1\r\n$16385\r\n", unauth), "Protocol error: unauthenticated bulk length");
    }

    #[test]
    fn empty_requests_are_skipped() {
        let got = parse_one(b"\r\n*0\r\n*-1\r\nPING\r\n", Limits::default()).expect("ok").expect("complete");
        assert_eq!(got, vec![b"PING".to_vec()]);
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"012"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }
}
