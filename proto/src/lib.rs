//! Vigil's wire protocols.
//!
//! This crate holds wire formats only, no server logic:
//!
//! - [`frame`]: the RESP2/RESP3 value type [`Frame`] and its encoding;
//! - [`decode`]: an incremental, resumable decoder for any frame (what a client reads);
//! - [`request`]: the server side: requests as multibulk arrays or inline lines, with Redis 7's
//!   limits and exact protocol errors;
//! - [`client`]: an async RESP client used by the sentinel, replicas and tests.
//!
//! Later the gRPC schemas of the sentinel group join them here.
//!
//! What we deliberately do not do: RESP3 streamed strings and aggregates (`$?`, `*?`). The spec
//! has them, Redis never sends them.

pub mod client;
pub mod decode;
pub mod error;
pub mod frame;
pub mod request;

pub use client::{Client, ClientError};
pub use decode::Decoder;
pub use error::ProtoError;
pub use frame::Frame;
pub use request::{Limits, RequestParser};
