//! The client side of Raft's RPCs: one gRPC connection per peer, opened on first use and
//! re-opened after a transport error. A peer that cannot be reached is reported as
//! `Unreachable`, so openraft backs off instead of hammering it.

use std::net::IpAddr;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tonic::transport::{Channel, Endpoint};
use vigil_proto::grpc::peer_client::PeerClient;

use super::types::{Node, NodeId, TypeConfig};
use super::wire;

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, Node, RaftError<NodeId, E>>;

/// Makes a [`Peer`] per target node.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// The local address outgoing connections use (`None`: the system's choice).
    pub local: Option<IpAddr>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Peer {
        Peer { target, addr: node.addr.clone(), local: self.local, client: None }
    }
}

/// The connection to one peer.
#[derive(Debug)]
pub struct Peer {
    target: NodeId,
    addr: String,
    local: Option<IpAddr>,
    client: Option<PeerClient<Channel>>,
}

/// The gRPC endpoint of a peer at `addr` (`host:port`), connecting from `local` if given (on a
/// host with several addresses the peers then see the one configured).
pub fn endpoint(addr: &str, local: Option<IpAddr>) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(1)).local_address(local))
}

/// Opens a gRPC channel to `addr`.
pub async fn channel(addr: &str, local: Option<IpAddr>) -> Result<Channel, tonic::transport::Error> {
    endpoint(addr, local)?.connect().await
}

impl Peer {
    async fn client(&mut self) -> Result<PeerClient<Channel>, Unreachable> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let ch = channel(&self.addr, self.local).await.map_err(|e| Unreachable::new(&e))?;
        let c = PeerClient::new(ch);
        self.client = Some(c.clone());
        Ok(c)
    }

    /// A failed call: forget the connection (the next call reconnects) and classify the error.
    fn failed<E: std::error::Error>(&mut self, s: tonic::Status) -> RPCError<NodeId, Node, E> {
        tracing::debug!(peer = self.target, addr = %self.addr, "raft rpc failed: {s}");
        self.client = None;
        match s.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => RPCError::Unreachable(Unreachable::new(&s)),
            _ => RPCError::Network(NetworkError::new(&s)),
        }
    }
}

fn request<T>(msg: T, option: &RPCOption) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(option.hard_ttl());
    r
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let mut c = self.client().await?;
        let reply = c.append_entries(request(wire::append_out(&rpc), &option)).await.map_err(|s| self.failed(s))?;
        wire::append_reply_in(reply.into_inner()).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let mut c = self.client().await?;
        let reply = c.install_snapshot(request(wire::snapshot_out(&rpc), &option)).await.map_err(|s| self.failed(s))?;
        wire::snapshot_reply_in(reply.into_inner()).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        let mut c = self.client().await?;
        let reply = c.request_vote(request(wire::vote_req_out(&rpc), &option)).await.map_err(|s| self.failed(s))?;
        wire::vote_reply_in(reply.into_inner()).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}
