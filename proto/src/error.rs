//! The one error type of the codec.

/// What can go wrong while decoding RESP.
///
/// The `Display` text of the request-side variants is exactly what Redis 7 puts after `-ERR `
/// in its reply before it closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// A `*` header that is not a number, or out of range.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$` header that is not a number, negative, or over `proto-max-bulk-len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// More than 10 arguments before authentication.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk over 16 KiB before authentication.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A `*` header line over 64 KiB.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$` header line over 64 KiB.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// Something other than `$` where an argument should start.
    #[error("Protocol error: expected '$', got '{}'", *.0 as char)]
    ExpectedDollar(u8),
    /// An inline request with an unterminated quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline request over 64 KiB without a newline.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// A reply frame starting with an unknown type byte.
    #[error("Protocol error: unexpected type byte {0:#04x}")]
    UnexpectedType(u8),
    /// Any other malformed reply frame.
    #[error("Protocol error: {0}")]
    Malformed(&'static str),
}
