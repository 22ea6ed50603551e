//! Sessions: ids, passwords, and the expiry tracker (client-protocol §4.4, §10).

use std::collections::{BTreeMap, HashMap, HashSet};

/// ZooKeeper's session password: the first 16 bytes of `java.util.Random(id ^ 0xB3415C00)`.
/// Matching Java byte for byte lets a client resume its session on any member, Java or ours.
pub fn password(session_id: i64) -> [u8; 16] {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut seed = ((session_id ^ 0xB341_5C00) as u64 ^ MULTIPLIER) & MASK;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        seed = (seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        let value = (seed >> 16) as u32;
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = (value >> (8 * i)) as u8;
        }
    }
    out
}

/// The first session id of a server: `(sid << 56) | ((millis << 24) >>> 8)` as in ZooKeeper, so
/// that ids from different members and different runs do not collide.
pub fn initial_session_id(server_id: u8, now_millis: u64) -> i64 {
    let time_part = (now_millis << 24) >> 8;
    ((u64::from(server_id) << 56) | time_part) as i64
}

/// Tracks when each session expires, in tick-sized buckets like ZooKeeper's ExpiryQueue, so that
/// each tick looks only at the sessions due then.
#[derive(Debug)]
pub struct ExpiryTracker {
    tick_ms: u64,
    deadline_of: HashMap<i64, (u64, u32)>,
    buckets: BTreeMap<u64, HashSet<i64>>,
    closing: HashSet<i64>,
}

impl ExpiryTracker {
    pub fn new(tick_ms: u64) -> Self {
        Self {
            tick_ms: tick_ms.max(1),
            deadline_of: HashMap::new(),
            buckets: BTreeMap::new(),
            closing: HashSet::new(),
        }
    }

    /// Deadlines are rounded up to the next tick, as ZooKeeper does.
    fn round_up(&self, at: u64) -> u64 {
        (at / self.tick_ms + 1) * self.tick_ms
    }

    /// Starts tracking (or refreshes) a session with its timeout.
    pub fn track(&mut self, session: i64, timeout_ms: u32, now: u64) {
        self.closing.remove(&session);
        self.move_to(session, timeout_ms, now);
    }

    /// Moves a session's deadline forward; false if the session is unknown or closing.
    pub fn touch(&mut self, session: i64, now: u64) -> bool {
        if self.closing.contains(&session) {
            return false;
        }
        let Some(&(_, timeout)) = self.deadline_of.get(&session) else {
            return false;
        };
        self.move_to(session, timeout, now);
        true
    }

    fn move_to(&mut self, session: i64, timeout_ms: u32, now: u64) {
        let deadline = self.round_up(now + u64::from(timeout_ms));
        if let Some((old, _)) = self.deadline_of.insert(session, (deadline, timeout_ms)) {
            if old == deadline {
                return;
            }
            if let Some(bucket) = self.buckets.get_mut(&old) {
                bucket.remove(&session);
                if bucket.is_empty() {
                    self.buckets.remove(&old);
                }
            }
        }
        self.buckets.entry(deadline).or_default().insert(session);
    }

    pub fn is_live(&self, session: i64) -> bool {
        self.deadline_of.contains_key(&session) && !self.closing.contains(&session)
    }

    pub fn timeout_of(&self, session: i64) -> Option<u32> {
        self.deadline_of.get(&session).map(|(_, timeout)| *timeout)
    }

    /// Marks a session as closing: its requests are refused from now on.
    pub fn set_closing(&mut self, session: i64) {
        if self.deadline_of.contains_key(&session) {
            self.closing.insert(session);
        }
    }

    /// Forgets a session (after its close committed).
    pub fn remove(&mut self, session: i64) {
        self.closing.remove(&session);
        if let Some((deadline, _)) = self.deadline_of.remove(&session)
            && let Some(bucket) = self.buckets.get_mut(&deadline)
        {
            bucket.remove(&session);
            if bucket.is_empty() {
                self.buckets.remove(&deadline);
            }
        }
    }

    /// Sessions whose deadline has passed; they are marked closing.
    pub fn expire(&mut self, now: u64) -> Vec<i64> {
        let due: Vec<u64> = self.buckets.range(..=now).map(|(d, _)| *d).collect();
        let mut expired = Vec::new();
        for deadline in due {
            if let Some(bucket) = self.buckets.remove(&deadline) {
                for session in bucket {
                    self.deadline_of.remove(&session);
                    self.closing.insert(session);
                    expired.push(session);
                }
            }
        }
        expired.sort_unstable();
        expired
    }

    pub fn len(&self) -> usize {
        self.deadline_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deadline_of.is_empty()
    }

    /// Expiry buckets in deadline order: (deadline on the tracker's clock, sessions).
    pub fn buckets(&self) -> Vec<(u64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(deadline, sessions)| {
                let mut sessions: Vec<i64> = sessions.iter().copied().collect();
                sessions.sort_unstable();
                (*deadline, sessions)
            })
            .collect()
    }

    pub fn sessions(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.deadline_of
            .iter()
            .map(|(id, (_, timeout))| (*id, *timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn passwords_match_java() {
        assert_eq!(
            hex(&password(0x0100_0012_de69_0000)),
            "bdacc14c068c79a063ce1679bf1a09bf"
        );
        assert_eq!(
            hex(&password(0x0100_0012_de69_0008)),
            "56b5924c06e973c70de650d45c61ad27"
        );
        assert_eq!(
            hex(&password(0x0100_0a1b_2c3d_0000)),
            "99540115b2ac339b9f3f41ba4b39270b"
        );
    }

    #[test]
    fn session_ids_carry_the_server_id() {
        let id = initial_session_id(1, 1_700_000_000_000);
        assert_eq!((id as u64) >> 56, 1);
        assert_eq!(id & 0xffff, 0, "the low bits count sessions");
    }

    #[test]
    fn expiry_rounds_to_ticks_and_touch_extends() {
        let mut tracker = ExpiryTracker::new(2000);
        tracker.track(7, 4000, 100);
        // deadline = roundUp(4100) = 6000
        assert!(tracker.expire(5999).is_empty());
        assert!(tracker.touch(7, 3000));
        // deadline = roundUp(7000) = 8000
        assert!(tracker.expire(6000).is_empty());
        assert_eq!(tracker.expire(8000), vec![7]);
        assert!(!tracker.is_live(7));
        assert!(
            !tracker.touch(7, 8001),
            "an expired session cannot be touched"
        );
    }

    #[test]
    fn closing_sessions_refuse_touches() {
        let mut tracker = ExpiryTracker::new(1000);
        tracker.track(1, 5000, 0);
        tracker.set_closing(1);
        assert!(!tracker.touch(1, 10));
        assert!(!tracker.is_live(1));
        tracker.remove(1);
        assert!(tracker.is_empty());
    }
}
