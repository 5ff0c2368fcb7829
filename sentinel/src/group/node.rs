//! One sentinel's place in the group: its Raft node, its gRPC server, and the two things the
//! rest of the sentinel does with them — propose a command, and watch the replicated state.
//!
//! # Membership and ids
//! Every sentinel is started with the same list of members (`--peer HOST:PORT` for the others,
//! plus its own `--grpc-port`). A member's Raft id is derived from its gRPC address
//! ([`node_id`]), so every sentinel computes the same ids from the same list without any extra
//! configuration, and a sentinel keeps its id across restarts. Each member offers to initialise
//! the group with that membership; Raft accepts the first and the others find it initialised.
//!
//! # Proposing
//! A command is committed by the leader only. A follower forwards it to the leader over gRPC
//! (`Peer.Propose`) and returns the leader's result, so `SENTINEL MONITOR` works on any sentinel.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use vigil_proto::grpc as pb;

use super::machine::Machine;
use super::network::{Network, channel, endpoint};
use super::service::{DiscoveryService, PeerReport, PeerService};
use super::state::{Applied, Command, GroupState};
use super::store::LogStore;
use super::types::{Node, NodeId, Raft};
use super::wire;

/// Raft's timing: heartbeats every 250 ms, elections after 1-2 s of silence. A leader lost with
/// its machine is replaced in about 1.5 s, well inside Redis Sentinel's usual down-after.
pub const HEARTBEAT_MS: u64 = 250;
/// Lower bound of the randomised election timeout.
pub const ELECTION_MIN_MS: u64 = 1000;
/// Upper bound of the randomised election timeout.
pub const ELECTION_MAX_MS: u64 = 2000;

/// The Raft id of the member whose gRPC server is at `addr` (FNV-1a of the address text).
pub fn node_id(addr: &str) -> NodeId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in addr.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// How to start a member.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// The address the other members reach this one's gRPC server at (`host:port`).
    pub advertise: String,
    /// Where the gRPC server listens.
    pub listen: std::net::SocketAddr,
    /// The other members' gRPC addresses.
    pub peers: Vec<String>,
    /// The local address outgoing connections to peers use (`None`: the system's choice).
    pub local: Option<std::net::IpAddr>,
    /// Joining a running group: wait to be added (`SENTINEL ADD-MEMBER` on a member) instead of
    /// offering to initialise a new group.
    pub join: bool,
}

/// Why a proposal did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known (an election is under way, or this member is cut off from a
    /// majority): nothing was changed.
    #[error("no leader: the sentinel group has no majority reachable from here")]
    NoLeader,
    /// The leader could not be reached or failed.
    #[error("the group's leader did not answer: {0}")]
    Leader(String),
}

/// A running member of the group.
#[derive(Clone)]
pub struct Group {
    /// This member's id.
    pub id: NodeId,
    raft: Raft,
    machine: Machine,
    peers: Arc<std::sync::Mutex<BTreeMap<NodeId, pb::peer_client::PeerClient<tonic::transport::Channel>>>>,
    local: Option<std::net::IpAddr>,
    /// Set once this member has caught up with the group since it started.
    synced: Arc<watch::Sender<bool>>,
}

impl Group {
    /// Opens the Raft state in `dir`, starts the gRPC server on the listener, and joins the group.
    pub async fn start(
        cfg: GroupConfig,
        listener: tokio::net::TcpListener,
        dir: &Path,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Group, mpsc::Receiver<PeerReport>)> {
        let dir = dir.join("raft");
        let log = LogStore::open(&dir)?;
        let machine = Machine::open(&dir)?;
        let config = openraft::Config {
            cluster_name: "vigil-sentinel".into(),
            heartbeat_interval: HEARTBEAT_MS,
            election_timeout_min: ELECTION_MIN_MS,
            election_timeout_max: ELECTION_MAX_MS,
            ..Default::default()
        }
        .validate()?;
        let id = node_id(&cfg.advertise);
        let raft = Raft::new(id, Arc::new(config), Network { local: cfg.local }, log, machine.clone()).await?;
        let (reports_tx, reports) = mpsc::channel(1024);
        let (synced, synced_rx) = watch::channel(false);

        let server = tonic::transport::Server::builder()
            .add_service(pb::peer_server::PeerServer::new(PeerService::new(raft.clone(), reports_tx)))
            .add_service(pb::discovery_server::DiscoveryServer::new(DiscoveryService::new(machine.clone(), synced_rx)))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.clone().cancelled_owned());
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!("the group's gRPC server stopped: {e}");
            }
        });
        let stopping = raft.clone();
        let stopped = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = stopping.shutdown().await;
        });

        let mut members: BTreeMap<NodeId, Node> = BTreeMap::new();
        for addr in std::iter::once(&cfg.advertise).chain(&cfg.peers) {
            members.insert(node_id(addr), Node { addr: addr.clone() });
        }
        if !cfg.join && !raft.is_initialized().await? {
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(id, "sentinel group initialised"),
                Err(e) => tracing::debug!(id, "group already initialised elsewhere: {e}"),
            }
        }
        let group = Group { id, raft, machine, peers: Arc::default(), local: cfg.local, synced: Arc::new(synced) };
        let g = group.clone();
        tokio::spawn(async move {
            loop {
                match g.catch_up().await {
                    Ok(()) => return,
                    Err(e) => tracing::debug!("not caught up with the group yet: {e}"),
                }
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        });
        Ok((group, reports))
    }

    /// Every leadership change: `true` while this member leads.
    pub fn watch_leadership(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let mut metrics = self.raft.metrics();
        let me = self.id;
        tokio::spawn(async move {
            loop {
                let leads = metrics.borrow_and_update().current_leader == Some(me);
                tx.send_if_modified(|v| std::mem::replace(v, leads) != leads);
                if metrics.changed().await.is_err() || tx.is_closed() {
                    return;
                }
            }
        });
        rx
    }

    /// Sends this member's view of masters (`(name, master addr, sdown)`) to every other
    /// member, without waiting for the answers (a lost report is replaced a second later).
    pub fn send_reports(&self, views: &[(String, String, bool)], api_addr: &str) {
        let me = self.id;
        for (id, addr) in self.members() {
            if id == me {
                continue;
            }
            let client = {
                let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
                match peers.get(&id) {
                    Some(c) => c.clone(),
                    None => {
                        let Ok(ep) = endpoint(&addr, self.local) else { continue };
                        let ch = ep.timeout(Duration::from_secs(1)).connect_lazy();
                        let c = pb::peer_client::PeerClient::new(ch);
                        peers.insert(id, c.clone());
                        c
                    }
                }
            };
            for (name, master, sdown) in views {
                let mut c = client.clone();
                let r = pb::Report {
                    from: me,
                    name: name.clone(),
                    addr: master.clone(),
                    sdown: *sdown,
                    api_addr: api_addr.to_string(),
                };
                tokio::spawn(async move {
                    let _ = c.send_report(r).await;
                });
            }
        }
    }

    /// Adds the sentinel whose gRPC server is at `addr` to the group (this member must lead):
    /// first as a learner that catches up with the log, then as a voter.
    pub async fn add_member(&self, addr: &str) -> Result<NodeId, String> {
        let id = node_id(addr);
        self.raft.add_learner(id, Node { addr: addr.to_string() }, true).await.map_err(|e| e.to_string())?;
        let voters: std::collections::BTreeSet<NodeId> = [id].into();
        self.raft
            .change_membership(openraft::ChangeMembers::AddVoterIds(voters), false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Removes the sentinel whose gRPC server is at `addr` from the group (this member must
    /// lead): it no longer counts in the majority.
    pub async fn remove_member(&self, addr: &str) -> Result<NodeId, String> {
        let id = node_id(addr);
        if !self.members().contains_key(&id) {
            return Err(format!("{addr} is not a member of this sentinel group"));
        }
        let voters: std::collections::BTreeSet<NodeId> = [id].into();
        self.raft
            .change_membership(openraft::ChangeMembers::RemoveVoters(voters), false)
            .await
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// The replicated state now, and every change.
    pub fn subscribe(&self) -> watch::Receiver<GroupState> {
        self.machine.subscribe()
    }

    /// The replicated state now.
    pub fn state(&self) -> GroupState {
        self.machine.state()
    }

    /// The current leader's id, if one is known.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Is this member the leader?
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.id)
    }

    /// The members: id and gRPC address.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().nodes().map(|(id, n)| (*id, n.addr.clone())).collect()
    }

    /// The voting members.
    pub fn voters(&self) -> std::collections::BTreeSet<NodeId> {
        self.raft.metrics().borrow().membership_config.membership().voter_ids().collect()
    }

    /// The read barrier of a member that has just started: what its log and state file say
    /// may be older than what the group committed while it was down. Asks the leader (itself,
    /// if it leads) for the committed index, confirmed by a majority, and waits until this
    /// member has applied that far; from then on it is [`Group::synced`]. Retried from
    /// [`Group::start`] until it passes.
    async fn catch_up(&self) -> Result<(), String> {
        let index = match self.raft.ensure_linearizable().await {
            Ok(log) => log.map_or(0, |l| l.index),
            Err(_) => {
                let leader = self.leader().ok_or("no leader yet")?;
                let addr = self.members().get(&leader).cloned().ok_or("the leader is not a known member")?;
                read_index(&addr, self.local).await?
            }
        };
        self.raft
            .wait(Some(Duration::from_secs(5)))
            .applied_index_at_least(Some(index), "catch up with the group")
            .await
            .map_err(|e| e.to_string())?;
        self.synced.send_replace(true);
        Ok(())
    }

    /// Has this member caught up with the group since it started?
    pub fn synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Becomes `true` once this member has caught up with the group since it started.
    pub fn watch_synced(&self) -> watch::Receiver<bool> {
        self.synced.subscribe()
    }

    /// Proposes `cmd` on this member only: committed if this member leads (a failover start
    /// must be proposed by the leader itself, never forwarded, so the sentinel that acts is the
    /// one whose leadership the commit proved).
    pub async fn propose_as_leader(&self, cmd: Command) -> Result<Applied, ProposeError> {
        match self.raft.client_write(cmd).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(ProposeError::NoLeader),
            Err(e) => Err(ProposeError::Leader(e.to_string())),
        }
    }

    /// Proposes `cmd` and waits until it is committed and applied (here, or through the leader).
    pub async fn propose(&self, cmd: Command) -> Result<Applied, ProposeError> {
        match self.raft.client_write(cmd.clone()).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_node {
                Some(node) => forward(&node.addr, self.local, cmd).await,
                None => Err(ProposeError::NoLeader),
            },
            Err(e) => Err(ProposeError::Leader(e.to_string())),
        }
    }
}

/// The leader's committed index, asked of the member at `addr`.
async fn read_index(addr: &str, local: Option<std::net::IpAddr>) -> Result<u64, String> {
    let ch = tokio::time::timeout(Duration::from_secs(5), channel(addr, local))
        .await
        .map_err(|_| format!("{addr}: timed out"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut req = tonic::Request::new(pb::Empty {});
    req.set_timeout(Duration::from_secs(5));
    let reply = pb::peer_client::PeerClient::new(ch)
        .read_index(req)
        .await
        .map_err(|s| format!("{addr}: {}", s.message()))?
        .into_inner();
    if reply.leader { Ok(reply.index) } else { Err(format!("{addr} no longer leads")) }
}

/// Sends `cmd` to the leader at `addr`.
async fn forward(addr: &str, local: Option<std::net::IpAddr>, cmd: Command) -> Result<Applied, ProposeError> {
    use pb::propose_result::Result as R;
    let ch = tokio::time::timeout(Duration::from_secs(5), channel(addr, local))
        .await
        .map_err(|_| ProposeError::Leader(format!("{addr}: timed out")))?
        .map_err(|e| ProposeError::Leader(format!("{addr}: {e}")))?;
    let mut client = pb::peer_client::PeerClient::new(ch);
    let mut req = tonic::Request::new(wire::command_out(&cmd));
    req.set_timeout(Duration::from_secs(10));
    let reply = client.propose(req).await.map_err(|s| ProposeError::Leader(format!("{addr}: {}", s.message())))?;
    match reply.into_inner().result {
        Some(R::Done(_)) => Ok(Applied::Done),
        Some(R::Refused(e)) => Ok(Applied::Refused(e)),
        // The leader changed meanwhile: the caller may retry.
        Some(R::NotLeader(_)) | None => Err(ProposeError::NoLeader),
    }
}
