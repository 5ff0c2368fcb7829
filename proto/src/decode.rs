//! Incremental decoding of any RESP2/RESP3 frame (what a client reads from a server).
//!
//! Bytes arrive in pieces. [`Decoder::decode`] returns `Ok(None)` when the buffer does not yet hold
//! a whole frame; that is not an error. To stay linear on huge replies that arrive in many reads,
//! the decoder first *scans* the buffer for the end of the frame and remembers how far it got
//! (offset plus a stack of "elements still owed" per open aggregate), so the next call resumes
//! where the last one stopped instead of starting over. Only once the frame is known to be whole
//! is it built, in one pass, with bulk payloads sliced out of the buffer without copying.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtoError;
use crate::frame::Frame;

/// Longest header line (type byte, number, CRLF excluded) accepted before giving up.
const MAX_LINE: usize = 64 * 1024;

/// Resumable RESP decoder.
#[derive(Debug)]
pub struct Decoder {
    max_bulk: usize,
    /// Scan progress for the frame at the front of the buffer: offset reached and, for every
    /// open aggregate, how many elements are still to come.
    offset: usize,
    owed: Vec<u64>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(usize::MAX)
    }
}

impl Decoder {
    /// A decoder that refuses bulk strings longer than `max_bulk` bytes.
    pub fn new(max_bulk: usize) -> Self {
        Decoder { max_bulk, offset: 0, owed: Vec::new() }
    }

    /// Takes one whole frame off the front of `buf`, or returns `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtoError> {
        match self.scan(buf)? {
            None => Ok(None),
            Some(end) => {
                let mut bytes = buf.split_to(end).freeze();
                self.offset = 0;
                self.owed.clear();
                let frame = build(&mut bytes)?;
                Ok(Some(frame))
            }
        }
    }

    /// Advances the scan; returns the frame's end offset when it is complete.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtoError> {
        loop {
            let Some((kind, header, after)) = read_line(buf, self.offset)? else {
                return Ok(None);
            };
            let children: u64 = match kind {
                b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => {
                    self.offset = after;
                    0
                }
                b'$' | b'!' | b'=' => {
                    let n = parse_int(header)?;
                    if n == -1 && kind == b'$' {
                        self.offset = after;
                    } else if n < 0 {
                        return Err(ProtoError::InvalidBulkLength);
                    } else {
                        let n = n as usize;
                        if n > self.max_bulk {
                            return Err(ProtoError::InvalidBulkLength);
                        }
                        let end = after + n + 2;
                        if buf.len() < end {
                            return Ok(None);
                        }
                        if &buf[end - 2..end] != b"\r\n" {
                            return Err(ProtoError::Malformed("bulk string not terminated by CRLF"));
                        }
                        self.offset = end;
                    }
                    0
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = parse_int(header)?;
                    self.offset = after;
                    if n == -1 && kind == b'*' {
                        0
                    } else if n < 0 {
                        return Err(ProtoError::Malformed("negative aggregate length"));
                    } else {
                        let n = n as u64;
                        match kind {
                            b'%' => n.saturating_mul(2),
                            b'|' => n.saturating_mul(2).saturating_add(1),
                            _ => n,
                        }
                    }
                }
                other => return Err(ProtoError::UnexpectedType(other)),
            };
            if children > 0 {
                self.owed.push(children);
                continue;
            }
            // One element finished: pay it to every aggregate it completes.
            loop {
                match self.owed.last_mut() {
                    None => return Ok(Some(self.offset)),
                    Some(top) => {
                        *top -= 1;
                        if *top > 0 {
                            break;
                        }
                        self.owed.pop();
                    }
                }
            }
        }
    }
}

/// A header line: its type byte, the rest of the line, and the offset after its CRLF.
type Line<'a> = (u8, &'a [u8], usize);

/// Reads the header line at `at`, if it has fully arrived.
fn read_line(buf: &[u8], at: usize) -> Result<Option<Line<'_>>, ProtoError> {
    if at >= buf.len() {
        return Ok(None);
    }
    let rest = &buf[at..];
    match memchr_crlf(rest) {
        Some(0) => Err(ProtoError::Malformed("empty line where a frame should start")),
        Some(i) => Ok(Some((rest[0], &rest[1..i], at + i + 2))),
        None if rest.len() > MAX_LINE => Err(ProtoError::Malformed("header line too long")),
        None => Ok(None),
    }
}

/// Position of the first `\r\n` in `b`.
pub(crate) fn memchr_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'\r') {
        let i = from + i;
        if i + 1 >= b.len() {
            return None;
        }
        if b[i + 1] == b'\n' {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

fn parse_int(b: &[u8]) -> Result<i64, ProtoError> {
    std::str::from_utf8(b).ok().and_then(|s| s.parse::<i64>().ok()).ok_or(ProtoError::Malformed("invalid integer"))
}

/// Builds a frame from bytes known to hold it whole.
fn build(b: &mut Bytes) -> Result<Frame, ProtoError> {
    let kind = b[0];
    let eol = memchr_crlf(b).ok_or(ProtoError::Malformed("truncated"))?;
    let header = b.slice(1..eol);
    b.advance(eol + 2);
    let frame = match kind {
        b'+' => Frame::Simple(header),
        b'-' => Frame::Error(header),
        b':' => Frame::Integer(parse_int(&header)?),
        b'(' => Frame::BigNumber(header),
        b'_' => Frame::Null,
        b'#' => match &header[..] {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(ProtoError::Malformed("invalid boolean")),
        },
        b',' => Frame::Double(parse_double(&header)?),
        b'$' | b'!' | b'=' => {
            let n = parse_int(&header)?;
            if n < 0 {
                return Ok(Frame::NullBulk);
            }
            let payload = b.split_to(n as usize);
            b.advance(2);
            match kind {
                b'$' => Frame::Bulk(payload),
                b'!' => Frame::BlobError(payload),
                _ => {
                    if payload.len() < 4 || payload[3] != b':' {
                        return Err(ProtoError::Malformed("verbatim string without format"));
                    }
                    Frame::Verbatim { format: [payload[0], payload[1], payload[2]], text: payload.slice(4..) }
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_int(&header)?;
            if n < 0 {
                return Ok(Frame::NullArray);
            }
            let mut items = Vec::with_capacity((n as usize).min(4096));
            for _ in 0..n {
                items.push(build(b)?);
            }
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                _ => Frame::Push(items),
            }
        }
        b'%' | b'|' => {
            let n = parse_int(&header)?;
            let mut pairs = Vec::with_capacity((n as usize).min(4096));
            for _ in 0..n {
                let k = build(b)?;
                let v = build(b)?;
                pairs.push((k, v));
            }
            if kind == b'%' { Frame::Map(pairs) } else { Frame::Attribute { attrs: pairs, frame: Box::new(build(b)?) } }
        }
        other => return Err(ProtoError::UnexpectedType(other)),
    };
    Ok(frame)
}

fn parse_double(b: &[u8]) -> Result<f64, ProtoError> {
    let s = std::str::from_utf8(b).map_err(|_| ProtoError::Malformed("invalid double"))?;
    match s {
        "inf" | "+inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" | "-nan" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| ProtoError::Malformed("invalid double")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Frame> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = d.decode(&mut buf).expect("valid input") {
            out.push(f);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    #[test]
    fn incomplete_is_not_an_error_and_resumes() {
        let whole = b"*3\r\n$3\r\nfoo\r\n%1\r\n+k\r\n:1\r\n,2.5\r\n";
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        for (i, &byte) in whole.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let got = d.decode(&mut buf).expect("no error");
            if i + 1 < whole.len() {
                assert!(got.is_none(), "complete too early at byte {i}");
            } else {
                let f = got.expect("complete at the end");
                assert_eq!(
                    f,
                    Frame::Array(vec![
                        Frame::bulk("foo"),
                        Frame::Map(vec![(Frame::simple("k"), Frame::Integer(1))]),
                        Frame::Double(2.5),
                    ])
                );
            }
        }
    }

    #[test]
    fn nulls_and_resp3_scalars() {
        let got = decode_all(b"$-1\r\n*-1\r\n_\r\n#f\r\n(123\r\n!3\r\nERR\r\n=7\r\ntxt:abc\r\n");
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], Frame::NullBulk);
        assert_eq!(got[1], Frame::NullArray);
        assert_eq!(got[2], Frame::Null);
        assert_eq!(got[3], Frame::Boolean(false));
        assert_eq!(got[6], Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"abc") });
    }

    #[test]
    fn attribute_wraps_the_following_frame() {
        let got = decode_all(b"|1\r\n+ttl\r\n:3\r\n+OK\r\n");
        assert_eq!(
            got,
            vec![Frame::Attribute {
                attrs: vec![(Frame::simple("ttl"), Frame::Integer(3))],
                frame: Box::new(Frame::simple("OK"))
            }]
        );
    }

    #[test]
    fn empty_aggregates_complete() {
        assert_eq!(decode_all(b"*0\r\n%0\r\n"), vec![Frame::Array(vec![]), Frame::Map(vec![])]);
    }
}
