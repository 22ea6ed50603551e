//! The write path: prepare → log (group commit) → publish → reply, in zxid order.
//!
//! The processor task prepares writes against the committed tree plus the writes prepared before
//! them (`pending`) and hands their transactions on without waiting: to the log when standalone,
//! to ZAB's broadcast when leading (which logs them and collects a quorum's acks). It takes every
//! write that is queued as one batch and hands the batch to the commit task, which waits until
//! the batch is committed, applies it to the tree, fires the watches and answers the clients.
//!
//! On a learner the processor forwards each write to the leader instead; the learner answers it
//! when the leader's COMMIT arrives (see `replica`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use zk_peer::{Forwarder, Proposer};
use zk_proto::peer::ForwardedRequest;
use zk_txnlog::TxnLog;

use crate::acl::AuthId;
use crate::pending::Pending;
use crate::prep::{self, Caller, QuorumState, WriteReply, WriteRequest, prepare_on};
use crate::server::{Outbound, Shared, WritePath};
use crate::stats::Stats;
use crate::tree::TreeView;
use crate::txn::{self, Txn, TxnHeader};
use crate::watch::ConnId;

/// A write waiting to be prepared.
#[derive(Debug)]
pub struct WriteJob {
    pub session_id: i64,
    pub xid: i32,
    pub request: WriteRequest,
    pub ids: Arc<[AuthId]>,
    /// The connection to answer; `None` for internal writes (expiry, reaper) and for writes a
    /// learner forwarded (the learner answers those).
    pub reply_to: Option<ConnId>,
    /// Opcode and body as the client sent them: what a learner forwards to its leader.
    pub wire: Option<(i32, Bytes)>,
    /// Leader: the learner that forwarded this write (it answers the client).
    pub origin: Option<u64>,
}

/// Resolves when a prepared write may be published: durable in the log when standalone,
/// committed by a quorum when leading.
type Commitment = BoxFuture<'static, Result<(), String>>;

/// A prepared write on its way to commit.
struct InFlight {
    commitment: Commitment,
    write: Committed,
}

/// Writes prepared together.
struct Batch {
    writes: Vec<InFlight>,
    /// The write path they were prepared for: a batch of an ended role is never published.
    generation: u64,
}

/// Most writes prepared into one batch: bounds the reply latency of the first one.
const MAX_BATCH: usize = 1000;

/// Size of the buffers records are encoded into (see [`txn::encode_into`]); a buffer is freed
/// once the log and the broadcast are done with every record in it.
const RECORD_CHUNK: usize = 64 * 1024;

/// What a committed transaction does to the session table.
#[derive(Debug, Clone, Copy)]
pub enum SessionEvent {
    Created { timeout: i32 },
    Closed,
}

impl SessionEvent {
    pub fn of(txn: &Txn) -> Option<SessionEvent> {
        match txn {
            Txn::CreateSession { timeout } => Some(SessionEvent::Created { timeout: *timeout }),
            Txn::CloseSession { .. } => Some(SessionEvent::Closed),
            _ => None,
        }
    }
}

pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Starts the processor and commit tasks over the recovered database.
pub fn start(shared: Arc<Shared>, jobs: mpsc::Receiver<WriteJob>) {
    let (commits_tx, commits_rx) = mpsc::unbounded_channel();
    let log = shared.storage.log.clone();
    tokio::spawn(run_processor(shared.clone(), log, jobs, commits_tx));
    tokio::spawn(run_commits(shared, commits_rx));
}

async fn run_processor(
    shared: Arc<Shared>,
    log: Arc<TxnLog>,
    mut jobs: mpsc::Receiver<WriteJob>,
    commits: mpsc::UnboundedSender<Batch>,
) {
    let mut pending = Pending::default();
    let mut records = BytesMut::with_capacity(RECORD_CHUNK);
    let (mut generation, mut path) = shared.write_path();
    while let Some(first) = jobs.recv().await {
        if shared.write_generation() != generation {
            // A new role: prepare from what is committed, under the new term's zxids.
            (generation, path) = shared.write_path();
            pending.clear();
        }
        let proposer = match &path {
            WritePath::Closed => {
                refuse(&shared, first);
                while let Ok(job) = jobs.try_recv() {
                    refuse(&shared, job);
                }
                continue;
            }
            WritePath::Learner { forwarder } => {
                forward(&shared, forwarder, first);
                while let Ok(job) = jobs.try_recv() {
                    forward(&shared, forwarder, job);
                }
                continue;
            }
            WritePath::ReadOnly => {
                answer_read_only(&shared, first);
                while let Ok(job) = jobs.try_recv() {
                    answer_read_only(&shared, job);
                }
                continue;
            }
            WritePath::Standalone => None,
            WritePath::Leader { epoch, proposer } => Some((*epoch, proposer)),
        };
        if proposer.is_none() && shared.log_failed.load(Ordering::Acquire) {
            recover_after_log_failure(&shared, &log).await;
            pending.clear();
        }
        // Sized for what is queued: growing it a push at a time costs a copy per doubling.
        let mut writes = Vec::with_capacity((jobs.len() + 1).min(MAX_BATCH));
        let mut next = Some(first);
        let mut failed = false;
        while let Some(job) = next.take() {
            match prepare_one(&shared, &log, proposer, &mut pending, &mut records, job) {
                Some(write) => writes.push(write),
                None => {
                    failed = true;
                    break;
                }
            }
            if writes.len() < MAX_BATCH {
                next = jobs.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            let batch = Batch { writes, generation };
            if commits.send(batch).is_err() {
                return;
            }
        }
        if failed {
            if proposer.is_none() {
                recover_after_log_failure(&shared, &log).await;
            }
            pending.clear();
        }
    }
}

/// A write that arrived while this member serves no role: its client goes elsewhere.
fn refuse(shared: &Shared, job: WriteJob) {
    if let Some(conn) = job.reply_to {
        shared.send_to_conn(conn, Outbound::Close);
    }
}

/// A read-only server creates and closes its own local sessions and refuses every other
/// write with NOTREADONLY, at once.
fn answer_read_only(shared: &Shared, job: WriteJob) {
    let zxid = shared.db.last_zxid();
    let reply = match job.request {
        WriteRequest::CreateSession { timeout } => {
            let timeout = u32::try_from(timeout).unwrap_or(0);
            shared
                .sessions()
                .track(job.session_id, timeout, shared.now_ms());
            WriteReply::Done
        }
        WriteRequest::CloseSession => {
            shared.sessions().remove(job.session_id);
            if job.reply_to.is_none() {
                shared.close_session_conns(job.session_id);
            }
            WriteReply::Done
        }
        _ => WriteReply::Single(crate::prep::OpResult::Failed(
            zk_proto::ErrorCode::NotReadOnly,
        )),
    };
    if let Some(conn) = job.reply_to {
        shared.send_to_conn(conn, Outbound::Reply { zxid, reply });
    }
}

/// A learner sends the write to its leader and remembers it, to answer it at COMMIT.
fn forward(shared: &Shared, forwarder: &Forwarder, job: WriteJob) {
    let (Some((op_type, body)), Some(conn)) = (job.wire, job.reply_to) else {
        tracing::debug!("an internal write on a learner; the leader owns those");
        return;
    };
    match job.request {
        WriteRequest::Sync { path } => shared.push_sync(conn, path),
        request => shared.push_forwarded(crate::server::ForwardedWrite {
            session_id: job.session_id,
            cxid: job.xid,
            request,
            reply_to: Some(conn),
        }),
    }
    let request = ForwardedRequest {
        session_id: job.session_id,
        cxid: job.xid,
        op_type,
        body,
        auth: job
            .ids
            .iter()
            .map(|id| zk_proto::peer::AuthId {
                scheme: id.scheme.clone(),
                id: id.id.clone(),
            })
            .collect(),
    };
    if !forwarder.forward(request) {
        shared.send_to_conn(conn, Outbound::Close);
    }
}

/// Prepares one write and hands its transaction on: to the log when standalone, to the
/// broadcast when leading. `None` when that was refused (the pipeline must recover).
fn prepare_one(
    shared: &Shared,
    log: &TxnLog,
    proposer: Option<(i64, &Proposer)>,
    pending: &mut Pending,
    records: &mut BytesMut,
    job: WriteJob,
) -> Option<InFlight> {
    let committed = shared.db.tree();
    let mut tree = pending.over(&committed);
    if let WriteRequest::Sync { path } = &job.request {
        // A sync that reached the leader's own path has nothing to wait for but earlier writes.
        return Some(InFlight {
            commitment: Box::pin(std::future::ready(Ok(()))),
            write: Committed {
                header: TxnHeader {
                    session_id: job.session_id,
                    cxid: job.xid,
                    zxid: tree.last_zxid(),
                    time: wall_clock_ms(),
                },
                txn: None,
                reply: WriteReply::Synced { path: path.clone() },
                replay: None,
                reply_to: job.reply_to,
                digest: None,
            },
        });
    }
    let next_zxid = match proposer {
        // The first zxid of an epoch is (epoch, 1).
        Some((epoch, _)) => (tree.last_zxid() + 1).max((epoch << 32) + 1),
        None => tree.last_zxid() + 1,
    };
    tree.writing(next_zxid);
    let header = TxnHeader {
        session_id: job.session_id,
        cxid: job.xid,
        zxid: next_zxid,
        time: wall_clock_ms(),
    };
    let caller = Caller {
        session_id: job.session_id,
        ids: &job.ids,
    };
    let request = match (proposer, shared.myid(), job.reply_to) {
        // The leader's own clients: their sessions must not have moved to a learner.
        (Some(_), Some(myid), Some(_)) => {
            crate::replica::owned_request(shared, job.session_id, myid, job.request)
        }
        _ => job.request,
    };
    let quorum = proposer.map(|(_, proposer)| proposer as &dyn QuorumState);
    let prepared = prepare_on(&mut tree, &header, caller, &shared.policy, &request, quorum);
    let digest = tree.digest();
    drop(committed);
    let record = txn::encode_into(records, &header, &prepared.txn);
    let commitment: Result<Commitment, String> = match proposer {
        None => log
            .append(header.zxid, record)
            .map(|appended| -> Commitment {
                Box::pin(async move { appended.await.map_err(|e| e.to_string()) })
            })
            .map_err(|e| e.to_string()),
        Some((_, proposer)) => {
            shared.stats.record_proposal(record.len());
            let origin = job.origin.unwrap_or(0);
            let proposed = match &prepared.txn {
                Txn::Reconfig { config } => proposer.propose_reconfig(
                    header.zxid,
                    record,
                    origin,
                    Some(digest),
                    config.clone(),
                ),
                _ => proposer.propose(header.zxid, record, origin, Some(digest)),
            };
            proposed
                .map(|committed| -> Commitment {
                    Box::pin(async move { committed.await.map_err(|e| e.to_string()) })
                })
                .map_err(|e| e.to_string())
        }
    };
    match commitment {
        Ok(commitment) => {
            shared.in_flight.fetch_add(1, Ordering::AcqRel);
            Some(InFlight {
                commitment,
                write: Committed {
                    header,
                    txn: Some(prepared.txn),
                    reply: prepared.reply,
                    replay: None,
                    reply_to: job.reply_to,
                    digest: Some(digest),
                },
            })
        }
        Err(error) => {
            tracing::error!(%error, zxid = header.zxid, "cannot log or propose a write");
            if proposer.is_none() {
                shared.log_failed.store(true, Ordering::Release);
            }
            if let Some(conn) = job.reply_to {
                shared.send_to_conn(conn, Outbound::Close);
            }
            None
        }
    }
}

/// After a write could not be made durable: wait until nothing is in flight, then cut the log
/// back to what was committed. Clients of the failed writes were disconnected; they retry as
/// after any connection loss.
async fn recover_after_log_failure(shared: &Shared, log: &TxnLog) {
    while shared.in_flight.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let committed = shared.db.last_zxid();
    if let Err(error) = log.truncate_after(committed) {
        tracing::error!(%error, "cannot truncate the log after a failed write; retrying on the next write");
        return;
    }
    shared.log_failed.store(false, Ordering::Release);
    tracing::warn!(zxid = committed, "the transaction log accepts writes again");
}

async fn run_commits(shared: Arc<Shared>, mut commits: mpsc::UnboundedReceiver<Batch>) {
    while let Some(Batch { writes, generation }) = commits.recv().await {
        let count = writes.len() as u64;
        let mut ok = !shared.log_failed.load(Ordering::Acquire);
        let mut committed = Vec::with_capacity(writes.len());
        for InFlight { commitment, write } in writes {
            if ok && let Err(error) = commitment.await {
                tracing::warn!(%error, zxid = write.header.zxid, "a write was not committed");
                ok = false;
            }
            committed.push(write);
        }
        if ok && shared.write_generation() == generation {
            commit(&shared, committed);
        } else {
            // The batch includes writes that are not committed: apply none of it. A standalone
            // processor cuts the log back to the committed tree before the next write; a member
            // that lost its role gets its history from the next leader.
            if !shared.is_ensemble() {
                shared.log_failed.store(true, Ordering::Release);
            }
            for write in &committed {
                if let Some(conn) = write.reply_to {
                    shared.send_to_conn(conn, Outbound::Close);
                }
            }
        }
        shared.in_flight.fetch_sub(count, Ordering::AcqRel);
    }
}

/// Compares the tree's digest after a transaction with the one its leader prepared, as
/// ZooKeeper's `DataTree.compareDigest` does: a difference means this member's tree no longer
/// matches the leader's (or its own preparation), which no client would otherwise notice.
fn check_digest(stats: &Stats, header: &TxnHeader, expected: i64, actual: i64) {
    if expected == actual {
        return;
    }
    let first = stats.digest_mismatches.fetch_add(1, Ordering::Relaxed) == 0;
    if first {
        tracing::error!(
            zxid = format_args!("0x{:x}", header.zxid),
            session = format_args!("0x{:x}", header.session_id),
            cxid = header.cxid,
            expected,
            actual,
            "first digest mismatch: the tree after this transaction differs from the one it was prepared to leave"
        );
    } else {
        tracing::debug!(
            zxid = format_args!("0x{:x}", header.zxid),
            expected,
            actual,
            "digest mismatch"
        );
    }
}

/// A committed write, ready to apply.
#[derive(Debug)]
pub struct Committed {
    pub header: TxnHeader,
    /// `None` for a sync, which changes nothing.
    pub txn: Option<Txn>,
    pub reply: WriteReply,
    /// A learner's forwarded write: its reply is rebuilt from the tree as it is applied.
    pub replay: Option<WriteRequest>,
    pub reply_to: Option<ConnId>,
    /// The tree digest the leader prepared this transaction to leave (ZooKeeper's TxnDigest).
    pub digest: Option<i64>,
}

/// Applies a committed batch in zxid order and fires its watches (before any reader can see the
/// tree, so that no client sees a change before its event), then answers the clients. A reply
/// therefore never goes out before its client could read its own write. Snapshots follow the
/// count of transactions applied.
pub fn commit(shared: &Arc<Shared>, mut batch: Vec<Committed>) {
    shared.db.commit(|tree, watches| {
        for write in &mut batch {
            let Some(txn) = &write.txn else {
                continue;
            };
            let header = &write.header;
            let changes = match write.replay.take() {
                Some(request) => {
                    let (changes, reply) = prep::replay(tree, header, txn, &request);
                    write.reply = reply;
                    changes
                }
                None => tree.apply_watched(header, txn),
            };
            if let Some(expected) = write.digest {
                check_digest(&shared.stats, header, expected, tree.digest());
            }
            for change in &changes {
                for delivery in watches.trigger(change) {
                    shared.deliver(tree, header.zxid, change, delivery);
                }
            }
        }
    });
    let applied = batch.len() as u64;
    for write in batch {
        shared.stats.record_commit();
        let session = write.header.session_id;
        match write.txn.as_ref().and_then(SessionEvent::of) {
            Some(SessionEvent::Created { timeout }) => {
                shared.sessions().track(
                    session,
                    u32::try_from(timeout).unwrap_or(0),
                    shared.now_ms(),
                );
            }
            Some(SessionEvent::Closed) => {
                if let (true, Some(Txn::CloseSession { ephemerals })) =
                    (shared.config.audit_enable, &write.txn)
                {
                    for path in ephemerals {
                        crate::audit::emit(&crate::audit::server_event(
                            "ephemeralZNodeDeletionOnSessionCloseOrExpire",
                            Some(session),
                            Some(path),
                            crate::audit::Outcome::Success,
                        ));
                    }
                }
                shared.sessions().remove(session);
                shared.forget_session_owner(session);
                if write.reply_to.is_none() {
                    shared.close_session_conns(session);
                }
            }
            None => {}
        }
        if let Some(conn) = write.reply_to {
            shared.send_to_conn(
                conn,
                Outbound::Reply {
                    zxid: write.header.zxid,
                    reply: write.reply,
                },
            );
        }
    }
    if shared.snapshot_due(applied) {
        crate::snapshot::spawn_snapshot(shared.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_that_differs_is_counted() {
        let stats = Stats::default();
        let header = TxnHeader {
            session_id: 1,
            cxid: 2,
            zxid: 3,
            time: 4,
        };
        check_digest(&stats, &header, 7, 7);
        assert_eq!(stats.digest_mismatches.load(Ordering::Relaxed), 0);
        check_digest(&stats, &header, 7, 8);
        check_digest(&stats, &header, 7, 9);
        assert_eq!(stats.digest_mismatches.load(Ordering::Relaxed), 2);
    }
}
