//! The edge between the gRPC messages (`vigil_proto::grpc`, see `proto/proto/sentinel.proto`)
//! and the group's own types: every message from the network is checked and converted here,
//! once; a message that does not make sense is refused with a [`WireError`] naming the field.

use std::collections::{BTreeMap, BTreeSet};

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{CommittedLeaderId, EntryPayload};
use vigil_proto::grpc as pb;

use super::state::Command;
use super::types::{Entry, LogId, Membership, Node, NodeId, SnapshotMeta, StoredMembership, TypeConfig, Vote};

/// A message from the network that cannot be turned into the group's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0}")]
pub struct WireError(pub String);

fn missing(what: &str) -> WireError {
    WireError(format!("message: `{what}` is missing"))
}

fn required<T>(v: Option<T>, what: &str) -> Result<T, WireError> {
    v.ok_or_else(|| missing(what))
}

impl From<WireError> for tonic::Status {
    fn from(e: WireError) -> tonic::Status {
        tonic::Status::invalid_argument(e.to_string())
    }
}

// --- log ids, votes, membership -------------------------------------------------------------

/// A log id to the wire.
pub fn log_id_out(l: &LogId) -> pb::LogId {
    pb::LogId { term: l.leader_id.term, node_id: l.leader_id.node_id, index: l.index }
}

/// A log id from the wire.
pub fn log_id_in(l: pb::LogId) -> LogId {
    LogId::new(CommittedLeaderId::new(l.term, l.node_id), l.index)
}

fn opt_log_id_in(l: Option<pb::LogId>) -> Option<LogId> {
    l.map(log_id_in)
}

/// A vote to the wire.
pub fn vote_out(v: &Vote) -> pb::Vote {
    pb::Vote { term: v.leader_id.term, node_id: v.leader_id.node_id, committed: v.committed }
}

/// A vote from the wire.
pub fn vote_in(v: pb::Vote) -> Vote {
    if v.committed { Vote::new_committed(v.term, v.node_id) } else { Vote::new(v.term, v.node_id) }
}

/// A membership to the wire.
pub fn membership_out(m: &Membership) -> pb::Membership {
    pb::Membership {
        configs: m.get_joint_config().iter().map(|c| pb::VoterSet { voters: c.iter().copied().collect() }).collect(),
        nodes: m.nodes().map(|(id, n)| pb::Node { id: *id, addr: n.addr.clone() }).collect(),
    }
}

/// A membership from the wire: at least one non-empty voter set, every voter with an address.
pub fn membership_in(m: pb::Membership) -> Result<Membership, WireError> {
    let configs: Vec<BTreeSet<NodeId>> =
        m.configs.into_iter().map(|c| c.voters.into_iter().collect::<BTreeSet<_>>()).collect();
    if configs.is_empty() || configs.iter().any(BTreeSet::is_empty) {
        return Err(WireError("membership: a voter set is empty".into()));
    }
    let nodes: BTreeMap<NodeId, Node> = m.nodes.into_iter().map(|n| (n.id, Node { addr: n.addr })).collect();
    if let Some(v) = configs.iter().flatten().find(|v| !nodes.contains_key(v)) {
        return Err(WireError(format!("membership: voter {v} has no address")));
    }
    Ok(Membership::new(configs, nodes))
}

// --- commands and entries ---------------------------------------------------------------------

/// A command to the wire.
pub fn command_out(c: &Command) -> pb::Command {
    use pb::command::Kind;
    let kind = match c {
        Command::Monitor { name, addr, quorum, options } => Kind::Monitor(pb::Monitor {
            name: name.clone(),
            addr: addr.clone(),
            quorum: *quorum,
            options: options_out(options),
        }),
        Command::Remove { name } => Kind::Remove(pb::Remove { name: name.clone() }),
        Command::ForgetReplicas { name } => Kind::ForgetReplicas(pb::ForgetReplicas { name: name.clone() }),
        Command::AddReplicas { name, addrs } => {
            Kind::AddReplicas(pb::AddReplicas { name: name.clone(), addrs: addrs.clone() })
        }
        Command::SetOptions { name, options } => {
            Kind::SetOptions(pb::SetOptions { name: name.clone(), options: options_out(options) })
        }
        Command::FailoverStarted { name, master, config_epoch } => Kind::FailoverStarted(pb::FailoverStarted {
            name: name.clone(),
            config_epoch: *config_epoch,
            master: master.clone(),
        }),
        Command::Switched { name, addr, config_epoch } => {
            Kind::Switched(pb::Switched { name: name.clone(), addr: addr.clone(), config_epoch: *config_epoch })
        }
    };
    pb::Command { kind: Some(kind) }
}

fn options_out(options: &[(String, String)]) -> Vec<pb::Option> {
    options.iter().map(|(k, v)| pb::Option { key: k.clone(), value: v.clone() }).collect()
}

fn name_in(name: String) -> Result<String, WireError> {
    crate::config::check_name(&name).map_err(|e| WireError(format!("command: {e}")))?;
    Ok(name)
}

fn addr_in(addr: String) -> Result<String, WireError> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(addr),
        _ => Err(WireError(format!("command: '{addr}' is not host:port"))),
    }
}

/// A command from the wire.
pub fn command_in(c: pb::Command) -> Result<Command, WireError> {
    use pb::command::Kind;
    Ok(match required(c.kind, "command.kind")? {
        Kind::Monitor(m) => {
            if m.quorum == 0 {
                return Err(WireError("command: quorum 0".into()));
            }
            Command::Monitor {
                name: name_in(m.name)?,
                addr: addr_in(m.addr)?,
                quorum: m.quorum,
                options: m.options.into_iter().map(|o| (o.key, o.value)).collect(),
            }
        }
        Kind::Remove(r) => Command::Remove { name: name_in(r.name)? },
        Kind::ForgetReplicas(r) => Command::ForgetReplicas { name: name_in(r.name)? },
        Kind::AddReplicas(r) => Command::AddReplicas {
            name: name_in(r.name)?,
            addrs: r.addrs.into_iter().map(addr_in).collect::<Result<_, _>>()?,
        },
        Kind::SetOptions(s) => Command::SetOptions {
            name: name_in(s.name)?,
            options: s.options.into_iter().map(|o| (o.key, o.value)).collect(),
        },
        Kind::FailoverStarted(f) => Command::FailoverStarted {
            name: name_in(f.name)?,
            master: addr_in(f.master)?,
            config_epoch: f.config_epoch,
        },
        Kind::Switched(s) => {
            Command::Switched { name: name_in(s.name)?, addr: addr_in(s.addr)?, config_epoch: s.config_epoch }
        }
    })
}

/// An entry to the wire.
pub fn entry_out(e: &Entry) -> pb::Entry {
    use pb::entry::Payload;
    let payload = match &e.payload {
        EntryPayload::Blank => Payload::Blank(pb::Blank {}),
        EntryPayload::Normal(c) => Payload::Command(command_out(c)),
        EntryPayload::Membership(m) => Payload::Membership(membership_out(m)),
    };
    pb::Entry { log_id: Some(log_id_out(&e.log_id)), payload: Some(payload) }
}

/// An entry from the wire.
pub fn entry_in(e: pb::Entry) -> Result<Entry, WireError> {
    use pb::entry::Payload;
    let payload = match required(e.payload, "entry.payload")? {
        Payload::Blank(_) => EntryPayload::Blank,
        Payload::Command(c) => EntryPayload::Normal(command_in(c)?),
        Payload::Membership(m) => EntryPayload::Membership(membership_in(m)?),
    };
    Ok(Entry { log_id: log_id_in(required(e.log_id, "entry.log_id")?), payload })
}

// --- the RPCs -----------------------------------------------------------------------------------

/// AppendEntries to the wire.
pub fn append_out(r: &AppendEntriesRequest<TypeConfig>) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(vote_out(&r.vote)),
        prev_log_id: r.prev_log_id.as_ref().map(log_id_out),
        entries: r.entries.iter().map(entry_out).collect(),
        leader_commit: r.leader_commit.as_ref().map(log_id_out),
    }
}

/// AppendEntries from the wire.
pub fn append_in(r: pb::AppendEntriesRequest) -> Result<AppendEntriesRequest<TypeConfig>, WireError> {
    Ok(AppendEntriesRequest {
        vote: vote_in(required(r.vote, "vote")?),
        prev_log_id: opt_log_id_in(r.prev_log_id),
        entries: r.entries.into_iter().map(entry_in).collect::<Result<_, _>>()?,
        leader_commit: opt_log_id_in(r.leader_commit),
    })
}

/// The AppendEntries answer to the wire.
pub fn append_reply_out(r: &AppendEntriesResponse<NodeId>) -> pb::AppendEntriesResponse {
    use pb::append_entries_response::Result as R;
    let result = match r {
        AppendEntriesResponse::Success => R::Success(pb::Empty {}),
        AppendEntriesResponse::PartialSuccess(m) => {
            R::PartialSuccess(pb::PartialSuccess { matching: m.as_ref().map(log_id_out) })
        }
        AppendEntriesResponse::Conflict => R::Conflict(pb::Empty {}),
        AppendEntriesResponse::HigherVote(v) => R::HigherVote(vote_out(v)),
    };
    pb::AppendEntriesResponse { result: Some(result) }
}

/// The AppendEntries answer from the wire.
pub fn append_reply_in(r: pb::AppendEntriesResponse) -> Result<AppendEntriesResponse<NodeId>, WireError> {
    use pb::append_entries_response::Result as R;
    Ok(match required(r.result, "result")? {
        R::Success(_) => AppendEntriesResponse::Success,
        R::PartialSuccess(p) => AppendEntriesResponse::PartialSuccess(opt_log_id_in(p.matching)),
        R::Conflict(_) => AppendEntriesResponse::Conflict,
        R::HigherVote(v) => AppendEntriesResponse::HigherVote(vote_in(v)),
    })
}

/// A vote request to the wire.
pub fn vote_req_out(r: &VoteRequest<NodeId>) -> pb::VoteRequest {
    pb::VoteRequest { vote: Some(vote_out(&r.vote)), last_log_id: r.last_log_id.as_ref().map(log_id_out) }
}

/// A vote request from the wire.
pub fn vote_req_in(r: pb::VoteRequest) -> Result<VoteRequest<NodeId>, WireError> {
    Ok(VoteRequest { vote: vote_in(required(r.vote, "vote")?), last_log_id: opt_log_id_in(r.last_log_id) })
}

/// A vote answer to the wire.
pub fn vote_reply_out(r: &VoteResponse<NodeId>) -> pb::VoteResponse {
    pb::VoteResponse {
        vote: Some(vote_out(&r.vote)),
        vote_granted: r.vote_granted,
        last_log_id: r.last_log_id.as_ref().map(log_id_out),
    }
}

/// A vote answer from the wire.
pub fn vote_reply_in(r: pb::VoteResponse) -> Result<VoteResponse<NodeId>, WireError> {
    Ok(VoteResponse {
        vote: vote_in(required(r.vote, "vote")?),
        vote_granted: r.vote_granted,
        last_log_id: opt_log_id_in(r.last_log_id),
    })
}

/// Snapshot metadata to the wire.
pub fn meta_out(m: &SnapshotMeta) -> pb::SnapshotMeta {
    pb::SnapshotMeta {
        last_log_id: m.last_log_id.as_ref().map(log_id_out),
        last_membership_log_id: m.last_membership.log_id().as_ref().map(log_id_out),
        last_membership: Some(membership_out(m.last_membership.membership())),
        snapshot_id: m.snapshot_id.clone(),
    }
}

/// Snapshot metadata from the wire.
pub fn meta_in(m: pb::SnapshotMeta) -> Result<SnapshotMeta, WireError> {
    let membership = match m.last_membership {
        Some(ms) if !ms.configs.is_empty() => membership_in(ms)?,
        _ => Membership::default(),
    };
    Ok(SnapshotMeta {
        last_log_id: opt_log_id_in(m.last_log_id),
        last_membership: StoredMembership::new(opt_log_id_in(m.last_membership_log_id), membership),
        snapshot_id: m.snapshot_id,
    })
}

/// A snapshot chunk to the wire.
pub fn snapshot_out(r: &InstallSnapshotRequest<TypeConfig>) -> pb::InstallSnapshotRequest {
    pb::InstallSnapshotRequest {
        vote: Some(vote_out(&r.vote)),
        meta: Some(meta_out(&r.meta)),
        offset: r.offset,
        data: r.data.clone(),
        done: r.done,
    }
}

/// A snapshot chunk from the wire.
pub fn snapshot_in(r: pb::InstallSnapshotRequest) -> Result<InstallSnapshotRequest<TypeConfig>, WireError> {
    Ok(InstallSnapshotRequest {
        vote: vote_in(required(r.vote, "vote")?),
        meta: meta_in(required(r.meta, "meta")?)?,
        offset: r.offset,
        data: r.data,
        done: r.done,
    })
}

/// A snapshot answer to the wire.
pub fn snapshot_reply_out(r: &InstallSnapshotResponse<NodeId>) -> pb::InstallSnapshotResponse {
    pb::InstallSnapshotResponse { vote: Some(vote_out(&r.vote)) }
}

/// A snapshot answer from the wire.
pub fn snapshot_reply_in(r: pb::InstallSnapshotResponse) -> Result<InstallSnapshotResponse<NodeId>, WireError> {
    Ok(InstallSnapshotResponse { vote: vote_in(required(r.vote, "vote")?) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lid(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    #[test]
    fn an_append_entries_request_survives_the_round_trip() {
        let nodes: BTreeMap<NodeId, Node> =
            [(1, Node { addr: "127.0.0.1:1".into() }), (2, Node { addr: "127.0.0.1:2".into() })].into();
        let m = Membership::new(vec![[1, 2].into()], nodes);
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(lid(2, 1, 7)),
            entries: vec![
                Entry { log_id: lid(3, 1, 8), payload: EntryPayload::Blank },
                Entry {
                    log_id: lid(3, 1, 9),
                    payload: EntryPayload::Normal(Command::Switched {
                        name: "m".into(),
                        addr: "10.0.0.2:6379".into(),
                        config_epoch: 4,
                    }),
                },
                Entry { log_id: lid(3, 1, 10), payload: EntryPayload::Membership(m) },
            ],
            leader_commit: Some(lid(3, 1, 8)),
        };
        let back = append_in(append_out(&req)).expect("valid");
        assert_eq!(format!("{back:?}"), format!("{req:?}"));
    }

    #[test]
    fn nonsense_from_the_network_is_refused_naming_the_field() {
        assert_eq!(
            append_in(pb::AppendEntriesRequest::default()).expect_err("no vote").to_string(),
            "invalid message: `vote` is missing"
        );
        let bad_entry = pb::Entry { log_id: Some(pb::LogId::default()), payload: None };
        let req = pb::AppendEntriesRequest {
            vote: Some(pb::Vote::default()),
            entries: vec![bad_entry],
            ..Default::default()
        };
        assert!(append_in(req).expect_err("no payload").to_string().contains("entry.payload"));
        let bad_cmd = pb::Command {
            kind: Some(pb::command::Kind::Monitor(pb::Monitor {
                name: "m".into(),
                addr: "nope".into(),
                quorum: 1,
                options: vec![],
            })),
        };
        assert!(command_in(bad_cmd).expect_err("addr").to_string().contains("not host:port"));
        let empty = pb::Membership { configs: vec![pb::VoterSet { voters: vec![] }], nodes: vec![] };
        assert!(membership_in(empty).is_err());
        let no_addr = pb::Membership { configs: vec![pb::VoterSet { voters: vec![1] }], nodes: vec![] };
        assert!(membership_in(no_addr).expect_err("addr").to_string().contains("voter 1 has no address"));
    }
}
