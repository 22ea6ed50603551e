//! A toy database for whole peers in one process: a log and the list of applied transactions,
//! all in memory. ZAB's guarantees show directly in those lists.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::future::BoxFuture;
use zk_peer::{Epochs, Replica, ReplicaError, Serving, Sid, Txn};
use zk_proto::peer::{ForwardedRequest, SessionTouch};

#[derive(Debug, Default)]
pub struct ToyState {
    pub log: Vec<(i64, Bytes)>,
    pub applied: Vec<(i64, Bytes)>,
    /// The digest each COMMIT or INFORM carried, by zxid.
    pub digests: Vec<(i64, Option<i64>)>,
    pub epochs: Option<Epochs>,
    pub serving: Option<Serving>,
    /// Requests learners forwarded to this member while it led.
    pub forwarded: Vec<(Sid, ForwardedRequest)>,
    pub syncs_done: usize,
    /// The leader's answers to this member's REVALIDATEs.
    pub revalidated: Vec<(i64, bool)>,
    /// Applied transactions that TRUNC or SNAP took away again.
    pub removed: Vec<(i64, Bytes)>,
    /// What happened to this database: roles served, truncations, snapshots installed.
    pub events: Vec<String>,
    /// The committed configuration the peer kept for restarts.
    pub stored_membership: Option<Bytes>,
}

#[derive(Debug, Default)]
pub struct Toy {
    state: Mutex<ToyState>,
}

impl Toy {
    pub fn new() -> Arc<Toy> {
        Arc::new(Toy::default())
    }

    pub fn state(&self) -> MutexGuard<'_, ToyState> {
        self.state.lock().unwrap()
    }

    pub fn applied(&self) -> Vec<(i64, Bytes)> {
        self.state().applied.clone()
    }

    pub fn serving(&self) -> Option<Serving> {
        self.state().serving.clone()
    }
}

fn last(list: &[(i64, Bytes)]) -> i64 {
    list.last().map_or(0, |(zxid, _)| *zxid)
}

impl Replica for Toy {
    fn last_logged_zxid(&self) -> i64 {
        last(&self.state().log)
    }

    fn append(
        &self,
        zxid: i64,
        txn: Bytes,
    ) -> Result<BoxFuture<'static, Result<(), ReplicaError>>, ReplicaError> {
        let mut state = self.state();
        if zxid <= last(&state.log) {
            return Err(format!("zxid 0x{zxid:x} not above the log's end").into());
        }
        state.log.push((zxid, txn));
        Ok(Box::pin(std::future::ready(Ok(()))))
    }

    fn logged_after(
        &self,
        after: i64,
        up_to: i64,
    ) -> Result<Option<Vec<(i64, Bytes)>>, ReplicaError> {
        let state = self.state();
        if !state.log.iter().any(|(zxid, _)| *zxid == after) {
            return Ok(None);
        }
        Ok(Some(
            state
                .log
                .iter()
                .filter(|(zxid, _)| *zxid > after && *zxid <= up_to)
                .cloned()
                .collect(),
        ))
    }

    fn logged_before(&self, zxid: i64) -> Result<Option<i64>, ReplicaError> {
        let state = self.state();
        Ok(state
            .log
            .iter()
            .map(|(z, _)| *z)
            .filter(|z| *z < zxid)
            .max())
    }

    fn truncate(&self, zxid: i64) -> Result<(), ReplicaError> {
        let mut state = self.state();
        let event = format!(
            "truncate to 0x{zxid:x} (log ended 0x{:x})",
            last(&state.log)
        );
        state.events.push(event);
        state.log.retain(|(z, _)| *z <= zxid);
        let (kept, removed): (Vec<_>, Vec<_>) =
            state.applied.drain(..).partition(|(z, _)| *z <= zxid);
        state.applied = kept;
        state.removed.extend(removed);
        Ok(())
    }

    fn epochs(&self) -> Result<Epochs, ReplicaError> {
        Ok(self.state().epochs.unwrap_or(Epochs {
            accepted: 0,
            current: 0,
        }))
    }

    fn set_accepted_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        let mut state = self.state();
        let current = state.epochs.map_or(0, |e| e.current);
        state.epochs = Some(Epochs {
            accepted: epoch,
            current,
        });
        Ok(())
    }

    fn set_current_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        let mut state = self.state();
        let accepted = state.epochs.map_or(0, |e| e.accepted);
        state.epochs = Some(Epochs {
            accepted,
            current: epoch,
        });
        Ok(())
    }

    fn begin_epoch_update(&self) -> Result<(), ReplicaError> {
        Ok(())
    }

    fn last_applied(&self) -> i64 {
        last(&self.state().applied)
    }

    fn catch_up(&self) -> Result<(), ReplicaError> {
        let mut state = self.state();
        let from = last(&state.applied);
        let missing: Vec<_> = state
            .log
            .iter()
            .filter(|(z, _)| *z > from)
            .cloned()
            .collect();
        state.applied.extend(missing);
        Ok(())
    }

    fn apply_committed(&self, txns: Vec<Txn>) -> Result<(), ReplicaError> {
        let mut state = self.state();
        for Txn {
            zxid, data, digest, ..
        } in txns
        {
            if zxid <= last(&state.applied) {
                return Err(format!("commit of 0x{zxid:x} out of order").into());
            }
            state.applied.push((zxid, data));
            state.digests.push((zxid, digest));
        }
        Ok(())
    }

    fn write_snapshot(&self, out: &mut dyn Write) -> Result<i64, ReplicaError> {
        let applied = self.applied();
        for (zxid, data) in &applied {
            out.write_all(&zxid.to_be_bytes())?;
            out.write_all(&(data.len() as u32).to_be_bytes())?;
            out.write_all(data)?;
        }
        Ok(last(&applied))
    }

    fn install_snapshot(&self, input: &mut dyn Read) -> Result<i64, ReplicaError> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let mut applied = Vec::new();
        let mut rest = &bytes[..];
        while rest.len() >= 12 {
            let zxid = i64::from_be_bytes(rest[..8].try_into()?);
            let len = u32::from_be_bytes(rest[8..12].try_into()?) as usize;
            applied.push((zxid, Bytes::copy_from_slice(&rest[12..12 + len])));
            rest = &rest[12 + len..];
        }
        let mut state = self.state();
        let event = format!(
            "install snapshot at 0x{:x} (applied ended 0x{:x})",
            last(&applied),
            last(&state.applied)
        );
        state.events.push(event);
        let removed: Vec<_> = state
            .applied
            .iter()
            .filter(|txn| !applied.contains(txn))
            .cloned()
            .collect();
        state.removed.extend(removed);
        state.log = applied.clone();
        state.applied = applied;
        Ok(last(&state.applied))
    }

    /// A transaction whose data is `reconfig:` and a configuration text makes that text the
    /// membership (its zxid the version), as `/zookeeper/config` does in the server.
    fn membership_after(&self, version: i64) -> Option<Bytes> {
        self.state()
            .applied
            .iter()
            .rev()
            .find_map(|(zxid, data)| Some((*zxid, data.strip_prefix(b"reconfig:")?)))
            .filter(|(zxid, _)| *zxid > version)
            .map(|(_, text)| Bytes::copy_from_slice(text))
    }

    fn reconfig_in(&self, txn: &Bytes) -> Option<Bytes> {
        txn.strip_prefix(b"reconfig:").map(Bytes::copy_from_slice)
    }

    fn logged_membership(&self) -> Option<Bytes> {
        self.state()
            .log
            .iter()
            .rev()
            .find_map(|(_, data)| data.strip_prefix(b"reconfig:"))
            .map(Bytes::copy_from_slice)
    }

    fn store_membership(&self, text: &[u8]) -> Result<(), ReplicaError> {
        self.state().stored_membership = Some(Bytes::copy_from_slice(text));
        Ok(())
    }

    fn stored_membership(&self) -> Option<Bytes> {
        self.state().stored_membership.clone()
    }

    fn serve(&self, serving: Serving) {
        let mut state = self.state();
        let event = match &serving {
            Serving::Leader { epoch, .. } => format!("lead epoch {epoch}"),
            Serving::Learner { .. } => "learn".to_string(),
            Serving::ReadOnly => "read-only".to_string(),
            Serving::Nothing => "stop".to_string(),
        };
        let event = format!("{event} (log ends 0x{:x})", last(&state.log));
        state.events.push(event);
        state.serving = match serving {
            Serving::Nothing => None,
            other => Some(other),
        };
    }

    fn submit_forwarded(&self, from: Sid, request: ForwardedRequest) -> BoxFuture<'static, ()> {
        self.state().forwarded.push((from, request));
        Box::pin(std::future::ready(()))
    }

    fn take_session_touches(&self) -> Vec<SessionTouch> {
        Vec::new()
    }

    fn touch_sessions(&self, _touches: &[SessionTouch]) {}

    fn sync_done(&self) {
        self.state().syncs_done += 1;
    }

    fn runs_inline(&self) -> bool {
        true
    }

    fn revalidate(&self, _from: Sid, session_id: i64, _timeout_ms: i32) -> bool {
        session_id > 0
    }

    fn revalidated(&self, session_id: i64, valid: bool) {
        self.state().revalidated.push((session_id, valid));
    }
}
