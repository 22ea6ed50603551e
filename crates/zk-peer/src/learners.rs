//! What a leader knows of each connected learner, for the AdminServer's `observers` and
//! `observer_connection_stat_reset` (ZooKeeper's LearnerHandler info): packets each way,
//! forwarded requests, the last zxid sent, and how many messages wait for the channel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tonic::Status;
use zk_election::Sid;
use zk_proto::peer::LeaderMessage;

/// The channel a handler writes its learner's messages to.
pub(crate) type LearnerOut = mpsc::Sender<Result<LeaderMessage, Status>>;

/// One learner's counters, updated by its handler.
#[derive(Debug)]
pub(crate) struct LearnerCounters {
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    requests: AtomicU64,
    /// The zxid of the last message sent that carried one; -1 before any.
    last_zxid: AtomicI64,
}

impl Default for LearnerCounters {
    fn default() -> Self {
        LearnerCounters {
            packets_sent: AtomicU64::new(0),
            packets_received: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_zxid: AtomicI64::new(-1),
        }
    }
}

impl LearnerCounters {
    pub(crate) fn sent(&self, zxid: i64) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
        if zxid > 0 {
            self.last_zxid.store(zxid, Ordering::Relaxed);
        }
    }

    pub(crate) fn received(&self, request: bool) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
        if request {
            self.requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn reset(&self) {
        self.packets_sent.store(0, Ordering::Relaxed);
        self.packets_received.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.last_zxid.store(-1, Ordering::Relaxed);
    }
}

/// A connected learner as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: Sid,
    pub observer: bool,
    /// `host:port` of its channel, when the network knows it.
    pub remote: Option<String>,
    /// When it connected, in ms since the epoch.
    pub established_ms: i64,
    pub queued_packets: usize,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub requests: u64,
    pub last_zxid: i64,
}

/// Connected learners, registered by their handlers for as long as they run.
#[derive(Debug, Default)]
pub struct Learners {
    entries: Mutex<BTreeMap<Sid, Entry>>,
}

#[derive(Debug)]
struct Entry {
    observer: bool,
    remote: Option<String>,
    established_ms: i64,
    /// The learner's channel, whose free capacity tells how many messages wait.
    out: LearnerOut,
    counters: Arc<LearnerCounters>,
}

impl Learners {
    /// Registers a learner's handler (replacing an older one of the same sid).
    pub(crate) fn register(
        &self,
        sid: Sid,
        observer: bool,
        remote: Option<String>,
        out: LearnerOut,
    ) -> Arc<LearnerCounters> {
        let counters = Arc::new(LearnerCounters::default());
        let entry = Entry {
            observer,
            remote,
            established_ms: now_ms(),
            out,
            counters: counters.clone(),
        };
        self.lock().insert(sid, entry);
        counters
    }

    /// Forgets a handler that ended, unless a newer one of the same sid took its place.
    pub(crate) fn remove(&self, sid: Sid, counters: &Arc<LearnerCounters>) {
        let mut entries = self.lock();
        if entries
            .get(&sid)
            .is_some_and(|entry| Arc::ptr_eq(&entry.counters, counters))
        {
            entries.remove(&sid);
        }
    }

    /// Every connected learner, by sid.
    pub fn list(&self) -> Vec<LearnerInfo> {
        self.lock()
            .iter()
            .map(|(sid, entry)| {
                let counters = &entry.counters;
                LearnerInfo {
                    sid: *sid,
                    observer: entry.observer,
                    remote: entry.remote.clone(),
                    established_ms: entry.established_ms,
                    queued_packets: entry.out.max_capacity() - entry.out.capacity(),
                    packets_received: counters.packets_received.load(Ordering::Relaxed),
                    packets_sent: counters.packets_sent.load(Ordering::Relaxed),
                    requests: counters.requests.load(Ordering::Relaxed),
                    last_zxid: counters.last_zxid.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Zeroes the observers' counters (`observer_connection_stat_reset`).
    pub fn reset_observers(&self) {
        for entry in self.lock().values().filter(|entry| entry.observer) {
            entry.counters.reset();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Sid, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lists_resets_and_forgets() {
        let learners = Learners::default();
        let (out, _rx) = mpsc::channel(8);
        for _ in 0..3 {
            out.try_send(Ok(LeaderMessage::default())).unwrap();
        }
        let follower = learners.register(2, false, None, mpsc::channel(8).0);
        let observer = learners.register(4, true, Some("127.0.0.1:5".into()), out);
        observer.sent(0);
        observer.sent(0x1_0000_0002);
        observer.received(true);
        observer.received(false);
        follower.sent(7);
        let listed = learners.list();
        assert_eq!(listed.len(), 2);
        let info = &listed[1];
        assert_eq!((info.sid, info.observer, info.queued_packets), (4, true, 3));
        assert_eq!(
            (info.packets_sent, info.packets_received, info.requests),
            (2, 2, 1)
        );
        assert_eq!(info.last_zxid, 0x1_0000_0002);
        assert_eq!(info.remote.as_deref(), Some("127.0.0.1:5"));
        learners.reset_observers();
        let listed = learners.list();
        assert_eq!((listed[1].packets_sent, listed[1].last_zxid), (0, -1));
        assert_eq!(listed[0].packets_sent, 1, "followers keep their counts");
        // A newer handler of the same sid survives the older one's removal.
        let newer = learners.register(2, false, None, mpsc::channel(8).0);
        learners.remove(2, &follower);
        assert_eq!(learners.list().len(), 2);
        learners.remove(2, &newer);
        assert_eq!(learners.list().len(), 1);
    }
}
