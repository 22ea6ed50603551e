//! Per-peer state: the send slot, the current link, and what wakes the peer's dialler.
//!
//! At most one link per peer is registered at a time: installing a link cancels the previous
//! one (last connection wins, spec §3.3), and a link only unregisters itself if it is still
//! the current one (generation check).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_election::Sid;

use crate::queue::SendSlot;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct CurrentLink {
    generation: u64,
    token: CancellationToken,
    since: Instant,
}

/// One configured peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) sid: Sid,
    /// The configured election address.
    pub(crate) address: String,
    pub(crate) slot: SendSlot,
    link: Mutex<Option<CurrentLink>>,
    generations: AtomicU64,
    /// Set by `connect_all` and by a smaller peer's prompt; cleared when a link is installed.
    wanted: AtomicBool,
    /// An address the peer announced in its hello, tried once for the next dial.
    dial_back_hint: Mutex<Option<String>>,
    /// Wakes the dialler: a message queued, a link came or went, a connection was requested.
    changed: Notify,
}

impl Peer {
    pub(crate) fn new(sid: Sid, address: String) -> Peer {
        Peer {
            sid,
            address,
            slot: SendSlot::default(),
            link: Mutex::new(None),
            generations: AtomicU64::new(0),
            wanted: AtomicBool::new(false),
            dial_back_hint: Mutex::new(None),
            changed: Notify::new(),
        }
    }

    /// Registers a link whose workers stop when `token` is cancelled; the previous link is
    /// cancelled. The link unregisters itself when the guard is dropped.
    pub(crate) fn install_link(self: &Arc<Self>, token: CancellationToken) -> LinkGuard {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let previous = lock(&self.link).replace(CurrentLink {
            generation,
            token: token.clone(),
            since: Instant::now(),
        });
        if let Some(previous) = previous {
            previous.token.cancel();
        }
        self.wanted.store(false, Ordering::Relaxed);
        self.changed.notify_waiters();
        LinkGuard {
            peer: self.clone(),
            generation,
            token,
        }
    }

    /// Stops the current link unless it is younger than `min_age`; returns whether no link
    /// remains. (A smaller peer said it has no link: an older link is stale, a younger one
    /// most likely answered that very request.)
    pub(crate) fn close_link_older_than(&self, min_age: Duration) -> bool {
        let closed = {
            let mut link = lock(&self.link);
            match link.as_ref() {
                Some(current) if current.since.elapsed() < min_age => return false,
                Some(_) => link.take(),
                None => None,
            }
        };
        if let Some(current) = closed {
            current.token.cancel();
        }
        self.changed.notify_waiters();
        true
    }

    pub(crate) fn has_link(&self) -> bool {
        lock(&self.link).is_some()
    }

    /// Whether the dialler should work: no link, and a message waits or a link was asked for.
    pub(crate) fn needs_link(&self) -> bool {
        !self.has_link() && (self.wanted.load(Ordering::Relaxed) || self.slot.has_pending())
    }

    /// Asks the dialler for a link even if nothing is queued.
    pub(crate) fn request_link(&self) {
        self.wanted.store(true, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Tells the dialler that a message was queued.
    pub(crate) fn message_queued(&self) {
        self.changed.notify_waiters();
    }

    pub(crate) fn set_dial_back_hint(&self, address: Option<String>) {
        *lock(&self.dial_back_hint) = address;
    }

    /// The address for the next dial: the announced one once, then the configured one.
    pub(crate) fn next_dial_address(&self) -> String {
        lock(&self.dial_back_hint)
            .take()
            .unwrap_or_else(|| self.address.clone())
    }

    /// Waits until `condition` holds or `stop` is cancelled; returns whether it holds.
    pub(crate) async fn wait_for(
        &self,
        stop: &CancellationToken,
        condition: impl Fn(&Peer) -> bool,
    ) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if stop.is_cancelled() {
                return false;
            }
            if condition(self) {
                return true;
            }
            tokio::select! {
                () = &mut notified => {}
                () = stop.cancelled() => return false,
            }
        }
    }
}

/// Ownership of a registered link: dropping it stops the link's workers and unregisters it.
#[derive(Debug)]
pub(crate) struct LinkGuard {
    peer: Arc<Peer>,
    generation: u64,
    token: CancellationToken,
}

impl LinkGuard {
    /// Cancelled when the link must stop (replaced, closed, or manager shut down).
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        self.token.cancel();
        {
            let mut link = lock(&self.peer.link);
            if link
                .as_ref()
                .is_some_and(|l| l.generation == self.generation)
            {
                *link = None;
            }
        }
        self.peer.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_link_cancels_the_old_one_and_survives_its_drop() {
        let peer = Arc::new(Peer::new(2, "127.0.0.1:1".into()));
        let first = peer.install_link(CancellationToken::new());
        let second = peer.install_link(CancellationToken::new());
        assert!(first.token().is_cancelled());
        assert!(!second.token().is_cancelled());
        drop(first);
        assert!(
            peer.has_link(),
            "the old guard must not unregister the new link"
        );
        drop(second);
        assert!(!peer.has_link());
    }

    #[test]
    fn needs_link_follows_queue_requests_and_links() {
        let peer = Arc::new(Peer::new(2, "127.0.0.1:1".into()));
        assert!(!peer.needs_link());
        peer.request_link();
        assert!(peer.needs_link());
        let link = peer.install_link(CancellationToken::new());
        assert!(!peer.needs_link(), "a link satisfies the request");
        drop(link);
        assert!(!peer.needs_link(), "the request was cleared by the link");
    }

    #[test]
    fn only_links_older_than_the_limit_are_closed() {
        let peer = Arc::new(Peer::new(2, "127.0.0.1:1".into()));
        assert!(
            peer.close_link_older_than(Duration::from_secs(60)),
            "no link at all"
        );
        let link = peer.install_link(CancellationToken::new());
        assert!(!peer.close_link_older_than(Duration::from_secs(60)));
        assert!(!link.token().is_cancelled());
        assert!(peer.close_link_older_than(Duration::ZERO));
        assert!(link.token().is_cancelled());
        assert!(!peer.has_link());
    }

    #[test]
    fn dial_back_hint_is_used_once() {
        let peer = Peer::new(2, "configured:1".into());
        peer.set_dial_back_hint(Some("announced:2".into()));
        assert_eq!(peer.next_dial_address(), "announced:2");
        assert_eq!(peer.next_dial_address(), "configured:1");
    }
}
