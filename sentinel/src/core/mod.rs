//! The sentinel's decisions, as pure code: no sockets, no clock, no randomness it does not own.
//!
//! - [`detect`]: subjective failure detection (SDOWN) of one instance;
//! - [`select`]: the choice of the replica to promote;
//! - [`failover`]: the failover state machine the leader runs;
//! - [`monitor`]: one monitored master: all of the above composed behind `step(now, event)`.
//!
//! The driver that owns the links feeds them events and the time, and carries out what they
//! decide. ODOWN, epochs, leader election and TILT join these in the sentinel issue.

pub mod detect;
pub mod failover;
pub mod monitor;
pub mod select;
