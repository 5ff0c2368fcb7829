//! `vigil-sentinel`: the high-availability daemon beside the masters (Redis Sentinel
//! compatible). This crate is being built; today it holds the decision code the daemon will
//! drive, tested on its own.
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
//!
//! Layers: [`core`] decides (pure), [`daemon`] drives (links, clock, actions), [`api`] answers
//! clients on the sentinel port.
//!
//! What we deliberately do not do yet: sentinel groups (ODOWN from peers, elections — the next
//! issue), TILT, SENTINEL MONITOR/REMOVE/SET/RESET at run time,
//! scripts, the old master's conversion when it returns, RESP3 reply shapes.

pub mod api;
pub mod core;
pub mod daemon;
pub mod info;
pub mod state;
