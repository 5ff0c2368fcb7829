//! The one place that names openraft's generic types for Vigil: a sentinel group is a Raft
//! group whose log carries [`Command`]s, whose node ids are `u64` and whose nodes are known by
//! the address of their gRPC server. Everything else in `group` uses these aliases, so swapping
//! the Raft library touches this module and the storage/network adapters only.

use std::io::Cursor;

use super::state::{Applied, Command};

openraft::declare_raft_types!(
    /// Vigil's Raft type configuration.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A sentinel's id in the group.
pub type NodeId = u64;
/// A member: the address of its gRPC server.
pub type Node = openraft::BasicNode;
/// A log position.
pub type LogId = openraft::LogId<NodeId>;
/// A vote.
pub type Vote = openraft::Vote<NodeId>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// The group's membership.
pub type Membership = openraft::Membership<NodeId, Node>;
/// A membership and the entry that set it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// What a snapshot covers.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A storage failure.
pub type StorageError = openraft::StorageError<NodeId>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
