//! One dialler task per peer (so at most one dial per sid is in progress, spec §3.6).
//!
//! It works while the peer has no link and a message waits or a link was asked for. The
//! larger sid of a pair opens the link and runs its receiver; the smaller sid only delivers
//! a hello so that the larger one dials back (spec §3.3). Failures back off exponentially.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::{Instant, timeout};
use tonic::transport::{Channel, Endpoint};
use zk_proto::peer::election_client::ElectionClient;

use crate::backoff::Backoff;
use crate::challenge::{DialRole, dial_role};
use crate::error::DialError;
use crate::handshake::hello_frame;
use crate::link::{outbound_frames, receive};
use crate::peer::Peer;
use crate::shared::{Shared, bump};

/// Runs until the manager shuts down.
pub(crate) async fn run(shared: Arc<Shared>, peer: Arc<Peer>) {
    let stop = shared.shutdown.clone();
    let options = &shared.options;
    let mut backoff = Backoff::new(options.initial_backoff, options.max_backoff);
    while peer.wait_for(&stop, Peer::needs_link).await {
        let address = peer.next_dial_address();
        let pause = match dial_role(shared.myid, peer.sid) {
            DialRole::Link => match run_link(&shared, &peer, &address).await {
                Ok(lived) if lived >= backoff.max() => {
                    backoff.reset();
                    None
                }
                // A link that dies at once must not turn into a busy loop.
                Ok(_) => Some(backoff.next_delay()),
                Err(error) => {
                    tracing::debug!(peer = peer.sid, address, %error, "election dial failed");
                    Some(backoff.next_delay())
                }
            },
            DialRole::Poke => match request_dial_back(&shared, &address).await {
                Ok(()) => {
                    bump(&shared.counters.dial_back_requests_sent);
                    backoff.reset();
                    let linked = peer.wait_for(&stop, Peer::has_link);
                    let _ = timeout(options.dial_back_wait, linked).await;
                    None
                }
                Err(error) => {
                    tracing::debug!(peer = peer.sid, address, %error, "dial-back request failed");
                    Some(backoff.next_delay())
                }
            },
        };
        if let Some(delay) = pause {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// Opens an HTTP/2 connection to `address` (resolved again on every attempt).
async fn open_channel(shared: &Shared, address: &str) -> Result<Channel, DialError> {
    let options = &shared.options;
    let endpoint = Endpoint::from_shared(format!("http://{address}")).map_err(|source| {
        DialError::Address {
            address: address.to_owned(),
            source,
        }
    })?;
    let endpoint = endpoint
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(options.keepalive_interval)
        .keep_alive_timeout(options.keepalive_timeout)
        .keep_alive_while_idle(true);
    let connecting = async {
        match &shared.tls {
            Some(tls) => tls.connect(endpoint, address).await,
            None => endpoint.connect().await,
        }
    };
    timeout(options.connect_timeout, connecting)
        .await
        .map_err(|_| DialError::Timeout)?
        .map_err(DialError::Connect)
}

fn client(shared: &Shared, channel: Channel) -> ElectionClient<Channel> {
    let limit = shared.options.max_message_size;
    ElectionClient::new(channel)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
}

/// Dials the link (we are the larger sid) and serves it; returns how long it lived.
async fn run_link(shared: &Shared, peer: &Arc<Peer>, address: &str) -> Result<Duration, DialError> {
    let mut client = client(shared, open_channel(shared, address).await?);
    let token = shared.shutdown.child_token();
    let frames = futures::stream::iter([hello_frame(shared.myid, &shared.advertised)])
        .chain(outbound_frames(peer.clone(), token.clone()));
    let answer = timeout(shared.options.handshake_timeout, client.connect(frames)).await;
    let inbound = match answer {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            token.cancel();
            return Err(DialError::Refused(status));
        }
        Err(_) => {
            token.cancel();
            return Err(DialError::Timeout);
        }
    };
    let link = peer.install_link(token);
    bump(&shared.counters.links_dialled);
    tracing::info!(
        peer = peer.sid,
        address,
        "election link established (dialled)"
    );
    let started = Instant::now();
    receive(shared, peer.sid, inbound, link.token()).await;
    drop(link);
    Ok(started.elapsed())
}

/// Says hello to a larger sid, which then closes the stream and dials us back.
async fn request_dial_back(shared: &Shared, address: &str) -> Result<(), DialError> {
    let mut client = client(shared, open_channel(shared, address).await?);
    let hello = futures::stream::iter([hello_frame(shared.myid, &shared.advertised)]);
    let exchange = async {
        let mut answer = client
            .connect(hello)
            .await
            .map_err(DialError::Refused)?
            .into_inner();
        while answer
            .message()
            .await
            .map_err(DialError::Refused)?
            .is_some()
        {}
        Ok(())
    };
    timeout(shared.options.handshake_timeout, exchange)
        .await
        .map_err(|_| DialError::Timeout)?
}
