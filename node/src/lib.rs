//! `vigil-node`: a Redis-compatible in-memory data server.
//!
//! Read it bottom-up, as the layers stack:
//!
//! 1. **Wire** — `vigil_proto` parses requests (multibulk or inline) and encodes frames.
//! 2. **Connection** — [`conn`] reads, runs every buffered command, writes all replies at once;
//!    [`session`] is the per-connection state, [`clients`] the shared registry behind CLIENT LIST.
//! 3. **Commands** — [`cmd`] holds the one table of commands and the dispatcher, with one file
//!    per family; bodies *return* a [`reply::Reply`], encoded for RESP2 or RESP3 by the
//!    connection.
//! 4. **State** — [`db`] is the sharded keyspace (its own hash table, expiry, WATCH), [`pubsub`]
//!    the subscription hub, [`config`] the parameters, [`server`] what ties them together.
//! 5. **Replication and formats** — [`repl`] is PSYNC2 (both ends of a link, the backlog);
//!    [`rdb`] encodes and decodes Redis's RDB format (full sync, later snapshots).
//!
//! `docs/architecture.md` explains the threading model and the locks.
//!
//! What we deliberately do not do yet: lists, hashes, sets, sorted sets, persistence to disk,
//! ACL users beyond `default`, client-side caching (CLIENT TRACKING), CLIENT REPLY OFF,
//! keyspace notifications, MONITOR, scripting, the FAILOVER command.

pub mod clients;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod db;
pub mod error;
pub mod info;
pub mod pubsub;
pub mod rdb;
pub mod repl;
pub mod reply;
pub mod server;
pub mod session;
pub mod sys;
