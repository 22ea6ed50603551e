//! The two workers of a link (spec §3.5), shared by dialled and accepted streams.
//!
//! * The sender is a lazy stream over the peer's send slot: gRPC pulls the next frame only
//!   when it can write it, so an unsent message stays replaceable in the slot. A new link
//!   first re-sends the last message sent if nothing is pending.
//! * The receiver moves every received notification into the shared receive queue, tagged
//!   with the peer's sid, until the stream ends, fails, or the link is cancelled.

use std::sync::Arc;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use zk_election::{Notification, Sid};
use zk_proto::peer::{ElectionFrame, election_frame};

use crate::convert::{from_wire, to_wire};
use crate::peer::Peer;
use crate::shared::{Shared, bump};

/// The frame carrying `msg`.
pub(crate) fn notification_frame(msg: &Notification) -> ElectionFrame {
    ElectionFrame {
        kind: Some(election_frame::Kind::Notification(to_wire(msg))),
    }
}

/// The frames a link sends to `peer` until `stop` is cancelled.
pub(crate) fn outbound_frames(
    peer: Arc<Peer>,
    stop: CancellationToken,
) -> impl Stream<Item = ElectionFrame> + Send + 'static {
    futures::stream::unfold((peer, stop, true), |(peer, stop, first)| async move {
        let resend = if first {
            peer.slot.resend_candidate()
        } else {
            None
        };
        if let Some(last) = resend {
            return Some((notification_frame(&last), (peer, stop, false)));
        }
        let msg = tokio::select! {
            biased;
            () = stop.cancelled() => return None,
            msg = peer.slot.next() => msg,
        };
        Some((notification_frame(&msg), (peer, stop, false)))
    })
}

/// Delivers what `from` sends until the stream ends or `stop` is cancelled.
pub(crate) async fn receive(
    shared: &Shared,
    from: Sid,
    mut inbound: Streaming<ElectionFrame>,
    stop: &CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            frame = inbound.message() => frame,
        };
        match frame {
            Ok(Some(ElectionFrame {
                kind: Some(election_frame::Kind::Notification(n)),
            })) => match from_wire(n) {
                Ok(n) => shared.deliver(from, n),
                Err(e) => {
                    bump(&shared.counters.invalid_dropped);
                    tracing::debug!(peer = from, error = %e, "dropping malformed notification");
                }
            },
            Ok(Some(_)) => {
                bump(&shared.counters.invalid_dropped);
                tracing::debug!(peer = from, "dropping unexpected frame on an election link");
            }
            Ok(None) => {
                tracing::debug!(peer = from, "election link closed by the peer");
                return;
            }
            Err(status) => {
                tracing::debug!(peer = from, %status, "election link failed");
                return;
            }
        }
    }
}
