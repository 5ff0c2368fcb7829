//! The node's command errors, and the one place that spells their RESP text.
//!
//! Every error reply prefix (`ERR`, `WRONGTYPE`, `NOAUTH`, ...) and every fixed message lives in
//! [`CmdError::write_to`], so the wording matches Redis 7 in one place.

use bytes::{BufMut, BytesMut};

/// An error a command answers with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CmdError {
    /// `ERR syntax error`
    #[error("syntax error")]
    Syntax,
    /// `ERR wrong number of arguments for '<cmd>' command`
    #[error("wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// `ERR unknown command '<cmd>', with args beginning with: ...`
    #[error("unknown command")]
    UnknownCommand {
        /// The command name as sent.
        name: String,
        /// Its first arguments, as Redis echoes them.
        args: Vec<String>,
    },
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    #[error("unknown subcommand")]
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: String,
        /// The container command, upper case.
        cmd: String,
    },
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    #[error("wrong type")]
    WrongType,
    /// `ERR value is not an integer or out of range`
    #[error("not an integer")]
    NotInteger,
    /// `ERR value is not a valid float`
    #[error("not a float")]
    NotFloat,
    /// `ERR increment or decrement would overflow`
    #[error("overflow")]
    Overflow,
    /// `ERR no such key`
    #[error("no such key")]
    NoSuchKey,
    /// `ERR DB index is out of range`
    #[error("db index out of range")]
    DbIndexOutOfRange,
    /// `NOAUTH Authentication required.`
    #[error("noauth")]
    NoAuth,
    /// `WRONGPASS invalid username-password pair or user is disabled.`
    #[error("wrongpass")]
    WrongPass,
    /// `EXECABORT Transaction discarded because of previous errors.`
    #[error("execabort")]
    ExecAbort,
    /// `NOPROTO unsupported protocol version`
    #[error("noproto")]
    NoProto,
    /// Any other message, written after `ERR `.
    #[error("{0}")]
    Err(String),
    /// A message with its own code, written as is (`CODE message`).
    #[error("{0}")]
    Coded(String),
}

impl CmdError {
    /// An `ERR <msg>` error from static text.
    pub fn msg(m: &str) -> CmdError {
        CmdError::Err(m.to_string())
    }

    /// Writes the reply text (without the leading `-` and trailing CRLF).
    pub fn write_to(&self, out: &mut BytesMut) {
        let fixed: &str = match self {
            CmdError::Syntax => "ERR syntax error",
            CmdError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
            CmdError::NotInteger => "ERR value is not an integer or out of range",
            CmdError::NotFloat => "ERR value is not a valid float",
            CmdError::Overflow => "ERR increment or decrement would overflow",
            CmdError::NoSuchKey => "ERR no such key",
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range",
            CmdError::NoAuth => "NOAUTH Authentication required.",
            CmdError::WrongPass => "WRONGPASS invalid username-password pair or user is disabled.",
            CmdError::ExecAbort => "EXECABORT Transaction discarded because of previous errors.",
            CmdError::NoProto => "NOPROTO unsupported protocol version",
            CmdError::WrongArity(cmd) => {
                out.put_slice(b"ERR wrong number of arguments for '");
                out.put_slice(cmd.as_bytes());
                out.put_slice(b"' command");
                return;
            }
            CmdError::UnknownCommand { name, args } => {
                out.put_slice(b"ERR unknown command '");
                put_clean(out, name, 128);
                out.put_slice(b"', with args beginning with: ");
                for a in args {
                    out.put_u8(b'\'');
                    put_clean(out, a, 128);
                    out.put_slice(b"' ");
                }
                return;
            }
            CmdError::UnknownSubcommand { sub, cmd } => {
                out.put_slice(b"ERR unknown subcommand '");
                put_clean(out, sub, 128);
                out.put_slice(b"'. Try ");
                out.put_slice(cmd.as_bytes());
                out.put_slice(b" HELP.");
                return;
            }
            CmdError::Err(m) => {
                out.put_slice(b"ERR ");
                put_clean(out, m, usize::MAX);
                return;
            }
            CmdError::Coded(m) => {
                put_clean(out, m, usize::MAX);
                return;
            }
        };
        out.put_slice(fixed.as_bytes());
    }

    /// The full reply text, e.g. `ERR syntax error`.
    pub fn text(&self) -> String {
        let mut b = BytesMut::new();
        self.write_to(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// Writes text that came from a client into an error line: at most `max` bytes, and CR/LF
/// replaced by spaces so the reply stays one line (as Redis does).
fn put_clean(out: &mut BytesMut, s: &str, max: usize) {
    for &c in s.as_bytes().iter().take(max) {
        out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
    }
}

/// Result of a command body.
pub type CmdResult<T = crate::reply::Reply> = Result<T, CmdError>;
