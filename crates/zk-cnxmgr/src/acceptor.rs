//! The acceptor: the `Election.Connect` gRPC service. It reads the dialler's hello and
//! applies the challenge rule (spec §3.3) before a stream becomes a link.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use zk_proto::peer::ElectionFrame;
use zk_proto::peer::election_server::Election;

use crate::challenge::{AcceptDecision, on_accept};
use crate::handshake::{Hello, parse_hello};
use crate::link::{outbound_frames, receive};
use crate::peer::Peer;
use crate::shared::{Shared, bump};

/// What the acceptor streams back.
pub(crate) type FrameStream = Pin<Box<dyn Stream<Item = Result<ElectionFrame, Status>> + Send>>;

/// The gRPC service of one connection manager.
#[derive(Debug)]
pub(crate) struct ElectionService {
    shared: Arc<Shared>,
}

impl ElectionService {
    pub(crate) fn new(shared: Arc<Shared>) -> ElectionService {
        ElectionService { shared }
    }

    async fn read_hello(&self, inbound: &mut Streaming<ElectionFrame>) -> Result<Hello, Status> {
        let first = tokio::time::timeout(self.shared.options.handshake_timeout, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello before the handshake timeout"))??;
        let frame = first.ok_or_else(|| Status::invalid_argument("stream ended before hello"))?;
        parse_hello(frame).map_err(|e| Status::invalid_argument(e.to_string()))
    }

    /// A server outside our configuration that says where it listens becomes a peer, as in
    /// ZooKeeper's connection manager: a server added by reconfig, or one joining to be added.
    /// One that gives no address we could dial back stays a stranger.
    fn learn(&self, hello: &Hello) -> Option<Arc<Peer>> {
        let shared = &self.shared;
        let address = hello
            .dial_back
            .as_deref()
            .filter(|_| hello.sid != shared.myid)?;
        shared.learn(hello.sid, address)
    }

    fn refuse(&self, status: Status, remote: Option<std::net::SocketAddr>) -> Status {
        bump(&self.shared.counters.refused);
        tracing::warn!(
            ?remote,
            reason = status.message(),
            "refusing election stream"
        );
        status
    }
}

#[tonic::async_trait]
impl Election for ElectionService {
    type ConnectStream = FrameStream;

    async fn connect(
        &self,
        request: Request<Streaming<ElectionFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        let remote = request.remote_addr();
        let mut inbound = request.into_inner();
        let hello = match self.read_hello(&mut inbound).await {
            Ok(hello) => hello,
            Err(status) => return Err(self.refuse(status, remote)),
        };
        let shared = &self.shared;
        let peer = shared.peer(hello.sid).or_else(|| self.learn(&hello));
        match (on_accept(shared.myid, hello.sid, peer.is_some()), peer) {
            (AcceptDecision::Keep, Some(peer)) => {
                let link = peer.install_link(shared.shutdown.child_token());
                bump(&shared.counters.links_accepted);
                tracing::info!(
                    peer = hello.sid,
                    ?remote,
                    "election link established (accepted)"
                );
                let frames = outbound_frames(peer.clone(), link.token().clone()).map(Ok);
                let shared = shared.clone();
                tokio::spawn(async move {
                    receive(&shared, hello.sid, inbound, link.token()).await;
                    drop(link);
                });
                Ok(Response::new(Box::pin(frames)))
            }
            (AcceptDecision::DialBack, Some(peer)) => {
                // The smaller sid has no link to us: the link we hold is stale, unless it is
                // so young that it crossed this request (then the peer asks again later).
                bump(&shared.counters.dial_back_requests_received);
                if peer.close_link_older_than(shared.options.dial_back_wait) {
                    tracing::debug!(peer = hello.sid, ?remote, "dial-back requested");
                    peer.set_dial_back_hint(hello.dial_back);
                    peer.request_link();
                } else {
                    tracing::debug!(peer = hello.sid, "dial-back request crossed a fresh link");
                }
                Ok(Response::new(Box::pin(futures::stream::empty())))
            }
            (AcceptDecision::Refuse(reason), _) => Err(self.refuse(
                Status::permission_denied(format!("sid {}: {}", hello.sid, reason.describe())),
                remote,
            )),
            (AcceptDecision::Keep | AcceptDecision::DialBack, None) => Err(self.refuse(
                Status::permission_denied(format!("sid {} is unknown", hello.sid)),
                remote,
            )),
        }
    }
}
