//! The two queues of the connection manager (spec §3.4), with async waiting.
//!
//! * [`SendSlot`]: one per peer, capacity 1: a newer message replaces an unsent older one
//!   (older votes are stale by construction); it also remembers the last message taken for
//!   sending so that a new link can re-send it (§3.5).
//! * [`InboundQueue`]: shared by all links, bounded, dropping the oldest message when full.
//!
//! Waiting is cancel-safe: a message is only removed by a synchronous step after wake-up.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use zk_election::{Notification, Sid};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct SlotState {
    pending: Option<Notification>,
    last_sent: Option<Notification>,
}

/// A peer's outgoing message slot: latest wins.
#[derive(Debug, Default)]
pub(crate) struct SendSlot {
    state: Mutex<SlotState>,
    ready: Notify,
}

impl SendSlot {
    /// Queues `msg`, replacing an unsent one; returns whether one was replaced.
    pub(crate) fn put(&self, msg: Notification) -> bool {
        let replaced = lock(&self.state).pending.replace(msg).is_some();
        self.ready.notify_waiters();
        replaced
    }

    /// Whether a message waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        lock(&self.state).pending.is_some()
    }

    /// Takes the pending message, recording it as the last one sent.
    pub(crate) fn take(&self) -> Option<Notification> {
        let mut state = lock(&self.state);
        let msg = state.pending.take()?;
        state.last_sent = Some(msg.clone());
        Some(msg)
    }

    /// What a freshly established link sends first when nothing is pending: the last message
    /// sent, which the peer may have lost with the previous link.
    pub(crate) fn resend_candidate(&self) -> Option<Notification> {
        let state = lock(&self.state);
        match state.pending {
            Some(_) => None,
            None => state.last_sent.clone(),
        }
    }

    /// Waits for a pending message and takes it (see [`SendSlot::take`]).
    pub(crate) async fn next(&self) -> Notification {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(msg) = self.take() {
                return msg;
            }
            notified.await;
        }
    }
}

/// Messages received from every peer (and looped back from ourselves), oldest first.
#[derive(Debug)]
pub(crate) struct InboundQueue {
    messages: Mutex<VecDeque<(Sid, Notification)>>,
    capacity: usize,
    ready: Notify,
}

impl InboundQueue {
    pub(crate) fn new(capacity: usize) -> InboundQueue {
        let capacity = capacity.max(1);
        InboundQueue {
            messages: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            ready: Notify::new(),
        }
    }

    /// Appends a message; returns whether the oldest one was dropped to make room.
    pub(crate) fn push(&self, from: Sid, msg: Notification) -> bool {
        let dropped = {
            let mut messages = lock(&self.messages);
            let dropped = messages.len() >= self.capacity;
            if dropped {
                messages.pop_front();
            }
            messages.push_back((from, msg));
            dropped
        };
        self.ready.notify_waiters();
        dropped
    }

    /// Removes the oldest message, if any.
    pub(crate) fn pop(&self) -> Option<(Sid, Notification)> {
        lock(&self.messages).pop_front()
    }

    /// Waits for a message and removes it.
    pub(crate) async fn next(&self) -> (Sid, Notification) {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(item) = self.pop() {
                return item;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use zk_election::{ServerState, Vote};

    fn vote(round: i64) -> Notification {
        Notification::new(
            ServerState::Looking,
            Vote {
                leader: 1,
                zxid: 0,
                election_epoch: round,
                peer_epoch: 0,
            },
            None,
        )
    }

    #[test]
    fn slot_keeps_only_the_newest_message() {
        let slot = SendSlot::default();
        assert!(!slot.put(vote(1)));
        assert!(slot.put(vote(2)));
        assert!(slot.put(vote(3)));
        assert_eq!(slot.take(), Some(vote(3)));
        assert_eq!(slot.take(), None);
        assert!(!slot.has_pending());
    }

    #[test]
    fn resend_candidate_is_the_last_taken_message_when_nothing_is_pending() {
        let slot = SendSlot::default();
        assert_eq!(slot.resend_candidate(), None);
        slot.put(vote(1));
        slot.take();
        assert_eq!(slot.resend_candidate(), Some(vote(1)));
        slot.put(vote(2));
        assert_eq!(
            slot.resend_candidate(),
            None,
            "the pending message goes first"
        );
    }

    #[tokio::test]
    async fn slot_waiter_wakes_on_put() {
        let slot = Arc::new(SendSlot::default());
        let waiter = tokio::spawn({
            let slot = slot.clone();
            async move { slot.next().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        slot.put(vote(4));
        assert_eq!(waiter.await.unwrap(), vote(4));
        assert_eq!(slot.resend_candidate(), Some(vote(4)));
    }

    #[test]
    fn inbound_queue_drops_the_oldest_when_full() {
        let queue = InboundQueue::new(2);
        assert!(!queue.push(1, vote(1)));
        assert!(!queue.push(2, vote(2)));
        assert!(queue.push(3, vote(3)));
        assert_eq!(queue.pop(), Some((2, vote(2))));
        assert_eq!(queue.pop(), Some((3, vote(3))));
        assert_eq!(queue.pop(), None);
    }

    #[tokio::test]
    async fn inbound_waiter_is_cancel_safe() {
        let queue = InboundQueue::new(4);
        // A waiter cancelled before anything arrives loses nothing.
        let timed_out = tokio::time::timeout(Duration::from_millis(10), queue.next()).await;
        assert!(timed_out.is_err());
        queue.push(5, vote(5));
        assert_eq!(queue.next().await, (5, vote(5)));
    }
}
