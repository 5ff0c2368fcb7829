//! The sentinel's decisions, as pure code: no sockets, no clock, no randomness it does not own.
//!
//! - [`agree`]: how the sentinels of a group agree on one master (reports, leadership);
//! - [`detect`]: subjective failure detection (SDOWN) of one instance;
//! - [`select`]: the choice of the replica to promote;
//! - [`failover`]: the failover state machine the leader runs;
//! - [`monitor`]: one monitored master: all of the above composed behind `step(now, event)`;
//! - [`tilt`]: the sentinel's distrust of its own timer after a stall or a clock jump.
//!
//! The driver that owns the links feeds them events and the time, and carries out what they
//! decide. Agreement between sentinels (ODOWN from peers, leader election) is the next layer.

pub mod agree;
pub mod detect;
pub mod failover;
pub mod monitor;
pub mod select;
pub mod tilt;
