//! `vigil-sentinel`: the high-availability daemon beside the masters (Redis Sentinel
//! compatible).
//!
//! # How a sentinel decides (Redis Sentinel's model, which we keep)
//! - **SDOWN** (subjectively down): *this* sentinel got no valid PING reply from an instance for
//!   `down-after-milliseconds` (or a master has claimed to be a replica for too long, or a
//!   rebooted master keeps answering LOADING). See [`core::detect`].
//! - **ODOWN** (objectively down): enough sentinels (`quorum`) agree a master is SDOWN. Only an
//!   ODOWN master is failed over.
//! - **Epochs**: every failover attempt raises the current epoch; the winner's epoch becomes the
//!   master's config epoch, and the higher config epoch wins everywhere.
//! - **Failover**: pick the best replica ([`core::select`]: priority, then replication offset,
//!   then run id, after excluding down, disconnected, stale and priority-0 replicas), promote it
//!   (`REPLICAOF NO ONE`), re-point the others, announce `+switch-master`.
//! - **TILT**: after a stall or a clock jump the sentinel distrusts its timers for 30 s and acts
//!   on nothing ([`core::tilt`]).
//! - **Groups**: several sentinels agree through Raft over gRPC ([`group`]): the configuration
//!   is replicated, ODOWN counts the peers' reports, and only the leader fails over, after the
//!   group committed the start.
//!
//! Layers: [`core`] decides (pure), [`daemon`] drives (links, clock, actions), [`api`] answers
//! clients on the sentinel port; [`group`] is the Raft group; [`config`] and [`state`] are what
//! is configured and what is learnt; [`scripts`] runs the operator's notification and
//! reconfiguration scripts.
//!
//! What we deliberately do not do yet: TLS, `rename-command`, discovering peers from hellos.

pub mod api;
pub mod config;
pub mod core;
pub mod daemon;
pub mod group;
pub mod info;
pub mod logging;
pub mod scripts;
pub mod state;
