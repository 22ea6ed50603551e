//! The learner's side of the leader-learner channel: connect to the elected leader's quorum
//! address, register, and answer its pings; a leader that goes silent past the sync limit ends
//! the role (quorum spec §5.2, §6).

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use zk_election::Sid;
use zk_proto::peer::quorum_client::QuorumClient;
use zk_proto::peer::{LearnerInfo, LearnerMessage, Ping, leader_message, learner_message};

use crate::config::EnsembleConfig;

/// Why following ended.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    #[error("leader {0} is not in the configuration")]
    UnknownLeader(Sid),
    #[error("cannot reach the leader at {address} within the init limit")]
    Unreachable { address: String },
    #[error("the leader refused us: {0}")]
    Refused(tonic::Status),
    #[error("the leader went silent past the sync limit")]
    Silent,
    #[error("the leader closed the channel")]
    Closed,
}

/// ZooKeeper's learner protocol version (0x10000).
const PROTOCOL_VERSION: i32 = 0x10000;

/// Follows (or observes) `leader` until the channel fails. Returns when the role is over.
pub async fn follow(
    config: &EnsembleConfig,
    leader: Sid,
    observer: bool,
    on_connected: impl FnOnce(),
) -> LearnerError {
    match run(config, leader, observer, on_connected).await {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

async fn run(
    config: &EnsembleConfig,
    leader: Sid,
    observer: bool,
    on_connected: impl FnOnce(),
) -> Result<std::convert::Infallible, LearnerError> {
    let spec = config
        .servers
        .get(&leader)
        .ok_or(LearnerError::UnknownLeader(leader))?;
    let address = spec.quorum_address();
    let deadline = Instant::now() + config.init_timeout();
    let channel = connect(&address, config.init_timeout()).await?;
    // The leader may not have started its term yet: it answers UNAVAILABLE until it has.
    let (tx, response) = loop {
        let mut client = QuorumClient::new(channel.clone());
        let (tx, rx) = mpsc::channel::<LearnerMessage>(64);
        tx.send(learner_info(config, observer))
            .await
            .map_err(|_| LearnerError::Closed)?;
        match client
            .follow(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
        {
            Ok(response) => break (tx, response),
            Err(status)
                if status.code() == tonic::Code::Unavailable && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => return Err(LearnerError::Refused(status)),
        }
    };
    let mut inbound = response.into_inner();
    on_connected();
    loop {
        let message = tokio::time::timeout(config.sync_timeout(), inbound.next())
            .await
            .map_err(|_| LearnerError::Silent)?;
        match message {
            Some(Ok(message)) => {
                if let Some(leader_message::Kind::Ping(ping)) = message.kind {
                    let reply = LearnerMessage {
                        kind: Some(learner_message::Kind::Ping(Ping {
                            zxid: ping.zxid,
                            touches: Vec::new(),
                        })),
                    };
                    tx.send(reply).await.map_err(|_| LearnerError::Closed)?;
                }
            }
            Some(Err(status)) => return Err(LearnerError::Refused(status)),
            None => return Err(LearnerError::Closed),
        }
    }
}

fn learner_info(config: &EnsembleConfig, observer: bool) -> LearnerMessage {
    LearnerMessage {
        kind: Some(learner_message::Kind::Info(LearnerInfo {
            sid: i64::try_from(config.myid).unwrap_or(i64::MAX),
            accepted_zxid: 0,
            protocol_version: PROTOCOL_VERSION,
            config_version: 0,
            observer,
        })),
    }
}

/// Dials the leader, retrying every 100 ms until `budget` is spent (the leader may still be
/// starting its term).
async fn connect(address: &str, budget: Duration) -> Result<Channel, LearnerError> {
    let unreachable = || LearnerError::Unreachable {
        address: address.to_owned(),
    };
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|_| unreachable())?
        .connect_timeout(budget.min(Duration::from_secs(5)))
        .tcp_nodelay(true);
    let deadline = Instant::now() + budget;
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(error) if Instant::now() + Duration::from_millis(100) < deadline => {
                tracing::debug!(address, %error, "leader not reachable yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return Err(unreachable()),
        }
    }
}
