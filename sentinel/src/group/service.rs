//! The gRPC server of a sentinel: Raft's RPCs from the other sentinels (`Peer`), and the
//! client API (`Discovery`: the current master of a group, or a stream of every switch).

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use vigil_proto::grpc as pb;

use super::machine::Machine;
use super::state::{Applied, GroupState};
use super::types::Raft;
use super::wire;

/// Raft's RPCs, handed to the local Raft node.
pub struct PeerService {
    raft: Raft,
    reports: mpsc::Sender<PeerReport>,
}

impl PeerService {
    /// Serves `raft`; failure reports go to `reports`.
    pub fn new(raft: Raft, reports: mpsc::Sender<PeerReport>) -> PeerService {
        PeerService { raft, reports }
    }
}

/// A peer's view of one master, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReport {
    /// The peer's id.
    pub from: u64,
    /// The group name.
    pub name: String,
    /// The master address it reports about.
    pub addr: String,
    /// Down in its view.
    pub sdown: bool,
    /// Its RESP API address.
    pub api_addr: String,
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::unavailable(e.to_string())
}

#[tonic::async_trait]
impl pb::peer_server::Peer for PeerService {
    async fn append_entries(
        &self,
        req: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let rpc = wire::append_in(req.into_inner())?;
        let reply = self.raft.append_entries(rpc).await.map_err(unavailable)?;
        Ok(Response::new(wire::append_reply_out(&reply)))
    }

    async fn request_vote(&self, req: Request<pb::VoteRequest>) -> Result<Response<pb::VoteResponse>, Status> {
        let rpc = wire::vote_req_in(req.into_inner())?;
        let reply = self.raft.vote(rpc).await.map_err(unavailable)?;
        Ok(Response::new(wire::vote_reply_out(&reply)))
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        let rpc = wire::snapshot_in(req.into_inner())?;
        let reply = self.raft.install_snapshot(rpc).await.map_err(unavailable)?;
        Ok(Response::new(wire::snapshot_reply_out(&reply)))
    }

    /// A command forwarded by a follower: only the leader commits it.
    async fn propose(&self, req: Request<pb::Command>) -> Result<Response<pb::ProposeResult>, Status> {
        use openraft::error::{ClientWriteError, RaftError};
        use pb::propose_result::Result as R;
        let cmd = wire::command_in(req.into_inner())?;
        let result = match self.raft.client_write(cmd).await {
            Ok(r) => match r.data {
                Applied::Done => R::Done(pb::Empty {}),
                Applied::Refused(e) => R::Refused(e),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                R::NotLeader(pb::NotLeader { leader_addr: f.leader_node.map(|n| n.addr).unwrap_or_default() })
            }
            Err(e) => return Err(unavailable(e)),
        };
        Ok(Response::new(pb::ProposeResult { result: Some(result) }))
    }

    async fn send_report(&self, req: Request<pb::Report>) -> Result<Response<pb::Empty>, Status> {
        let r = req.into_inner();
        let members = self.raft.metrics().borrow().membership_config.clone();
        if !members.membership().nodes().any(|(id, _)| *id == r.from) {
            return Err(Status::permission_denied(format!("{} is not a member of this sentinel group", r.from)));
        }
        crate::config::check_name(&r.name).map_err(Status::invalid_argument)?;
        // A full queue means the core is busy: a report is repeated every second anyway.
        let _ = self.reports.try_send(PeerReport {
            from: r.from,
            name: r.name,
            addr: r.addr,
            sdown: r.sdown,
            api_addr: r.api_addr,
        });
        Ok(Response::new(pb::Empty {}))
    }

    /// The read barrier of a member that has just started (see [`super::node::Group::catch_up`]).
    async fn read_index(&self, _req: Request<pb::Empty>) -> Result<Response<pb::ReadIndexReply>, Status> {
        use openraft::error::{CheckIsLeaderError, RaftError};
        let reply = match self.raft.ensure_linearizable().await {
            Ok(log) => {
                pb::ReadIndexReply { leader: true, index: log.map_or(0, |l| l.index), leader_addr: String::new() }
            }
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => pb::ReadIndexReply {
                leader: false,
                index: 0,
                leader_addr: f.leader_node.map(|n| n.addr).unwrap_or_default(),
            },
            Err(e) => return Err(unavailable(e)),
        };
        Ok(Response::new(reply))
    }
}

/// The client API over the replicated state.
pub struct DiscoveryService {
    machine: Machine,
    synced: tokio::sync::watch::Receiver<bool>,
}

impl DiscoveryService {
    /// Serves the state of `machine`, once `synced` says this member has caught up.
    pub fn new(machine: Machine, synced: tokio::sync::watch::Receiver<bool>) -> DiscoveryService {
        DiscoveryService { machine, synced }
    }
}

fn catching_up() -> Status {
    Status::unavailable("this sentinel has just started and is catching up with its group: ask another one")
}

fn master_addr(state: &GroupState, name: &str) -> Option<pb::MasterAddr> {
    let m = state.masters.get(name)?;
    let (ip, port) = m.addr.rsplit_once(':')?;
    Some(pb::MasterAddr {
        name: name.to_string(),
        ip: ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        port: port.parse().ok()?,
        config_epoch: m.config_epoch,
    })
}

#[tonic::async_trait]
impl pb::discovery_server::Discovery for DiscoveryService {
    async fn get_master_addr(&self, req: Request<pb::MasterName>) -> Result<Response<pb::MasterAddr>, Status> {
        let name = req.into_inner().name;
        if !*self.synced.borrow() {
            return Err(catching_up());
        }
        master_addr(&self.machine.state(), &name)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no master named '{name}' is monitored")))
    }

    type WatchMasterStream = Pin<Box<dyn Stream<Item = Result<pb::MasterAddr, Status>> + Send>>;

    async fn watch_master(&self, req: Request<pb::MasterName>) -> Result<Response<Self::WatchMasterStream>, Status> {
        let name = req.into_inner().name;
        let mut synced = self.synced.clone();
        if tokio::time::timeout(std::time::Duration::from_secs(10), synced.wait_for(|s| *s)).await.is_err() {
            return Err(catching_up());
        }
        let mut changes = self.machine.subscribe();
        let first = master_addr(&changes.borrow_and_update(), &name)
            .ok_or_else(|| Status::not_found(format!("no master named '{name}' is monitored")))?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = first.clone();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            while changes.changed().await.is_ok() {
                let now = master_addr(&changes.borrow_and_update(), &name);
                match now {
                    Some(a) if a != last => {
                        last = a.clone();
                        if tx.send(Ok(a)).await.is_err() {
                            return;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let _ = tx.send(Err(Status::not_found(format!("'{name}' is no longer monitored")))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
