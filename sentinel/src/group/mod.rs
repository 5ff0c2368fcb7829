//! Sentinel groups: the sentinels of a deployment agree through Raft.
//!
//! # Why Raft
//! Redis Sentinel agrees with an ad-hoc vote per epoch: each sentinel votes once per epoch for
//! the first candidate that asks, and a candidate that gets a majority fails the master over.
//! The configuration itself spreads by gossip (hello messages), "last failover wins". Vigil's
//! sentinels form one Raft group instead (openraft, behind this module): the monitored masters,
//! their addresses, config epochs and options, and the group's membership are a replicated state
//! machine ([`state::GroupState`]). Every change — `SENTINEL MONITOR/REMOVE/SET`, a failover's
//! start (a new config epoch, the fencing token) and its end (the switch) — is a log entry that a
//! majority has stored before anyone acts on it. So the sentinels' view of who is master is
//! linearizable, cannot split, and a sentinel cut off with a minority can never change it.
//!
//! # Layers
//! - [`state`]: the commands and the pure state machine they drive (no Raft inside);
//! - [`types`]: the single place that names openraft's types;
//! - [`store`] and [`machine`]: openraft's storage traits over files in `<dir>/raft/`;
//! - [`wire`]: gRPC messages (`proto/proto/sentinel.proto`) to and from the group's types,
//!   validated once at the edge;
//! - [`network`] and [`service`]: the gRPC client and server that carry Raft's RPCs;
//! - [`node`]: one sentinel's membership in the group: start, propose, watch.
//!
//! The failover itself runs in the core ([`crate::core::agree`] decides who may start it) and the
//! driver ([`crate::daemon::group`]) proposes its start and switch here.
//!
//! What we deliberately do not do: use Redis's hello messages to find peers (membership is
//! explicit: `--peer`, `SENTINEL ADD-MEMBER/REMOVE-MEMBER`), TLS between sentinels.

// openraft's storage traits return its `StorageError` (over 200 bytes); our helpers return the same.
#![allow(clippy::result_large_err)]

pub mod machine;
pub mod network;
pub mod node;
pub mod service;
pub mod state;
pub mod store;
pub mod types;
pub mod wire;
