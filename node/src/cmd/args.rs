//! Small parsers shared by command bodies.

use bytes::Bytes;

use crate::error::{CmdError, CmdResult};

/// Parses a strict 64-bit integer (`ERR value is not an integer or out of range`).
pub fn int(b: &[u8]) -> CmdResult<i64> {
    vigil_proto::request::parse_i64(b).ok_or(CmdError::NotInteger)
}

/// Parses a float as Redis's `strtold` use does: no spaces, no NaN (`ERR value is not a valid float`).
pub fn float(b: &[u8]) -> CmdResult<f64> {
    let s = std::str::from_utf8(b).map_err(|_| CmdError::NotFloat)?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(CmdError::NotFloat);
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().map_err(|_| CmdError::NotFloat)?,
    };
    if v.is_nan() {
        return Err(CmdError::NotFloat);
    }
    Ok(v)
}

/// True if `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Lossy text of an argument (for messages and names).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Formats a float as Redis's INCRBYFLOAT does: plain decimal, no exponent, no trailing zeros.
pub fn human_float(v: f64) -> String {
    let s = format!("{v}");
    if s == "-0" { "0".to_string() } else { s }
}

/// A database index argument, checked against the number of databases.
pub fn db_index(b: &[u8], databases: usize) -> CmdResult<usize> {
    let n = int(b).map_err(|_| CmdError::NotInteger)?;
    if n < 0 || n as usize >= databases {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

/// The arguments as owned bytes (for replies that echo them).
pub fn bulk(b: &Bytes) -> crate::reply::Reply {
    crate::reply::Reply::Bulk(b.clone())
}
