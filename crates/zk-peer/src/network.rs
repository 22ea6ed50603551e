//! How a peer reaches the other members: its election links (a zk-election [`Transport`]) and
//! the leader-learner channel (`Quorum.Follow`). [`GrpcNetwork`] is the real one, over TCP; a
//! deterministic simulation plugs in an in-memory one.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};
use zk_cnxmgr::{CnxConfig, CnxManager, ElectionTransport};
use zk_election::driver::Transport;
use zk_proto::peer::quorum_client::QuorumClient;
use zk_proto::peer::quorum_server::{Quorum, QuorumServer};
use zk_proto::peer::{LeaderMessage, LearnerMessage};

use crate::config::{EnsembleConfig, ServerSpec};
use crate::leader::Acceptor;
use crate::peer::PeerError;

/// A stream that tasks can hold across awaits (`Send + Sync`).
pub type SharedStream<T> = Pin<Box<dyn Stream<Item = T> + Send + Sync>>;
/// A learner's messages as the leader receives them.
pub type LearnerStream = SharedStream<Result<LearnerMessage, Status>>;
/// A leader's messages as the learner receives them.
pub type LeaderStream = SharedStream<Result<LeaderMessage, Status>>;

/// Makes a `Send` stream shareable: it is only ever polled through `&mut`, so the mutex is never
/// locked (`Mutex::get_mut`).
pub fn shared_stream<S>(stream: S) -> SharedStream<S::Item>
where
    S: Stream + Send + Unpin + 'static,
{
    Box::pin(Exclusive(std::sync::Mutex::new(stream)))
}

struct Exclusive<S>(std::sync::Mutex<S>);

impl<S: Stream + Unpin> Stream for Exclusive<S> {
    type Item = S::Item;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let stream = match self.get_mut().0.get_mut() {
            Ok(stream) => stream,
            Err(poisoned) => poisoned.into_inner(),
        };
        Pin::new(stream).poll_next(cx)
    }
}

/// Opens leader-learner channels.
pub trait QuorumDialer: Send + Sync + 'static {
    /// Opens a channel to `leader`, which reads `outbound`. `UNAVAILABLE` means "not yet":
    /// the leader is unreachable or not leading yet, and the learner may try again.
    fn follow(
        &self,
        leader: &ServerSpec,
        outbound: mpsc::UnboundedReceiver<LearnerMessage>,
    ) -> BoxFuture<'static, Result<LeaderStream, Status>>;
}

/// What a started network gives the peer.
pub struct Endpoints<T> {
    /// The election links.
    pub election: T,
    /// How learners reach leaders.
    pub dialer: Arc<dyn QuorumDialer>,
    /// Closes this member's listeners and links.
    pub stop: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>,
}

impl<T> std::fmt::Debug for Endpoints<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoints").finish_non_exhaustive()
    }
}

/// A way for the members of an ensemble to reach each other.
pub trait PeerNetwork: Send + 'static {
    type Election: Transport;

    /// Starts this member's endpoints: the election links, and the quorum listener that hands
    /// every learner's channel to `acceptor`.
    fn start(
        self,
        config: Arc<EnsembleConfig>,
        acceptor: Acceptor,
    ) -> impl Future<Output = Result<Endpoints<Self::Election>, PeerError>> + Send;
}

/// The real network: the election over zk-cnxmgr's gRPC links, the leader-learner channel as
/// the gRPC service `Quorum.Follow` on the quorum port.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcNetwork;

/// The largest message on the quorum channel: a transaction of jute.maxbuffer and its framing.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

impl PeerNetwork for GrpcNetwork {
    type Election = ElectionTransport;

    async fn start(
        self,
        config: Arc<EnsembleConfig>,
        acceptor: Acceptor,
    ) -> Result<Endpoints<ElectionTransport>, PeerError> {
        let me = config.me().clone();
        let address = config.listen_address(me.quorum_port);
        let listener =
            TcpListener::bind(&address)
                .await
                .map_err(|source| PeerError::QuorumBind {
                    address: address.clone(),
                    source,
                })?;
        let service = QuorumServer::new(GrpcQuorum { acceptor })
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let incoming = zk_cnxmgr::incoming::accept(listener, config.tls.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(%error, "quorum listener failed");
            }
        });
        let peers = config
            .servers
            .values()
            .map(|spec| (spec.sid, spec.election_address()));
        let listen = config
            .listen_on_all_ips
            .then(|| config.listen_address(me.election_port));
        let cnx_config = CnxConfig::new(config.myid, me.election_address(), peers)
            .with_tls(config.tls.clone())
            .with_listen(listen);
        let (manager, inbox) = CnxManager::start(cnx_config).await?;
        let election = ElectionTransport::new(manager.handle(), inbox);
        let connect_timeout = config.init_timeout().min(Duration::from_secs(5));
        Ok(Endpoints {
            election,
            dialer: Arc::new(GrpcDialer {
                connect_timeout,
                tls: config.tls.clone(),
            }),
            stop: Box::new(move || {
                Box::pin(async move {
                    server.abort();
                    // Awaited, so that the listener is closed when this returns: a peer
                    // restarted at once binds the same port.
                    let _ = server.await;
                    manager.shutdown().await;
                })
            }),
        })
    }
}

/// The tonic service: every call is a learner's channel.
struct GrpcQuorum {
    acceptor: Acceptor,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<LeaderMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Quorum for GrpcQuorum {
    type FollowStream = ResponseStream;

    async fn follow(
        &self,
        request: Request<Streaming<LearnerMessage>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let remote = request.remote_addr().map(|addr| addr.to_string());
        let inbound = shared_stream(request.into_inner());
        let outbound = self.acceptor.accept(inbound, remote).await?;
        Ok(Response::new(outbound))
    }
}

struct GrpcDialer {
    connect_timeout: Duration,
    tls: Option<zk_cnxmgr::PeerTls>,
}

impl QuorumDialer for GrpcDialer {
    fn follow(
        &self,
        leader: &ServerSpec,
        outbound: mpsc::UnboundedReceiver<LearnerMessage>,
    ) -> BoxFuture<'static, Result<LeaderStream, Status>> {
        let address = leader.quorum_address();
        let connect_timeout = self.connect_timeout;
        let tls = self.tls.clone();
        Box::pin(async move {
            let endpoint = Endpoint::from_shared(format!("http://{address}"))
                .map_err(|e| Status::invalid_argument(e.to_string()))?
                .connect_timeout(connect_timeout)
                .tcp_nodelay(true);
            let channel = match &tls {
                Some(tls) => tls.connect(endpoint, &address).await,
                None => endpoint.connect().await,
            }
            .map_err(|e| Status::unavailable(format!("{address}: {e}")))?;
            let mut client = QuorumClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(outbound);
            let response = client.follow(outbound).await?;
            Ok(shared_stream(response.into_inner()))
        })
    }
}
