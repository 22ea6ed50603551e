//! The write path: prepare → log (group commit) → publish → reply, in zxid order.
//!
//! The processor task prepares writes against its own copy of the tree (which runs ahead of the
//! committed one) and hands their transactions on without waiting: to the log when standalone,
//! to ZAB's broadcast when leading (which logs them and collects a quorum's acks). It takes every
//! write that is queued as one batch and hands the batch, with the one tree version it leaves, to
//! the commit task, which waits until the batch is committed, publishes that version, fires the
//! watches and answers the clients. A version per batch rather than per write keeps the copying
//! of the persistent tree's paths (and their freeing) proportional to batches.
//!
//! On a learner the processor forwards each write to the leader instead; the learner answers it
//! when the leader's COMMIT arrives (see `replica`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use zk_peer::{Forwarder, Proposer};
use zk_proto::peer::ForwardedRequest;
use zk_txnlog::TxnLog;

use crate::acl::AuthId;
use crate::prep::{Caller, WriteReply, WriteRequest, prepare};
use crate::server::{Outbound, Shared, WritePath};
use crate::tree::{Change, DataTree};
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
struct Pending {
    header: TxnHeader,
    commitment: Commitment,
    changes: Vec<Change>,
    reply: WriteReply,
    reply_to: Option<ConnId>,
    session_event: Option<SessionEvent>,
}

/// Writes prepared together, and the tree they leave.
struct Batch {
    writes: Vec<Pending>,
    tree: Arc<DataTree>,
    /// The write path they were prepared for: a batch of an ended role is never published.
    generation: u64,
}

/// Most writes prepared into one batch: bounds the reply latency of the first one.
const MAX_BATCH: usize = 1000;

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

/// Starts the processor and commit tasks over a recovered tree.
pub fn start(shared: Arc<Shared>, tree: DataTree, jobs: mpsc::Receiver<WriteJob>) {
    let (commits_tx, commits_rx) = mpsc::unbounded_channel();
    let log = shared.storage.log.clone();
    tokio::spawn(run_processor(shared.clone(), log, tree, jobs, commits_tx));
    tokio::spawn(run_commits(shared, commits_rx));
}

async fn run_processor(
    shared: Arc<Shared>,
    log: Arc<TxnLog>,
    mut tree: DataTree,
    mut jobs: mpsc::Receiver<WriteJob>,
    commits: mpsc::UnboundedSender<Batch>,
) {
    let (mut generation, mut path) = shared.write_path();
    while let Some(first) = jobs.recv().await {
        if shared.write_generation() != generation {
            // A new role: prepare from what is committed, under the new term's zxids.
            (generation, path) = shared.write_path();
            tree = (*shared.db.tree()).clone();
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
            tree = recover_after_log_failure(&shared, &log).await;
        }
        let mut writes = Vec::new();
        let mut next = Some(first);
        let mut failed = false;
        while let Some(job) = next.take() {
            match prepare_one(&shared, &log, proposer, &mut tree, job) {
                Some(pending) => writes.push(pending),
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
            let batch = Batch {
                writes,
                tree: Arc::new(tree.clone()),
                generation,
            };
            if commits.send(batch).is_err() {
                return;
            }
        }
        if failed {
            tree = match proposer {
                None => recover_after_log_failure(&shared, &log).await,
                Some(_) => (*shared.db.tree()).clone(),
            };
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
    let zxid = shared.db.tree().last_zxid();
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
    tree: &mut DataTree,
    job: WriteJob,
) -> Option<Pending> {
    if let WriteRequest::Sync { path } = &job.request {
        // A sync that reached the leader's own path has nothing to wait for but earlier writes.
        return Some(Pending {
            header: TxnHeader {
                session_id: job.session_id,
                cxid: job.xid,
                zxid: tree.last_zxid(),
                time: wall_clock_ms(),
            },
            commitment: Box::pin(std::future::ready(Ok(()))),
            changes: Vec::new(),
            reply: WriteReply::Synced { path: path.clone() },
            reply_to: job.reply_to,
            session_event: None,
        });
    }
    let next_zxid = match proposer {
        // The first zxid of an epoch is (epoch, 1).
        Some((epoch, _)) => (tree.last_zxid() + 1).max((epoch << 32) + 1),
        None => tree.last_zxid() + 1,
    };
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
    let request = match (proposer, shared.myid, job.reply_to) {
        // The leader's own clients: their sessions must not have moved to a learner.
        (Some(_), Some(myid), Some(_)) => {
            crate::replica::owned_request(shared, job.session_id, myid, job.request)
        }
        _ => job.request,
    };
    let prepared = prepare(tree, &header, caller, &shared.policy, &request);
    let session_event = SessionEvent::of(&prepared.txn);
    let record = txn::encode(&header, &prepared.txn);
    let commitment: Result<Commitment, String> = match proposer {
        None => log
            .append(header.zxid, record)
            .map(|appended| -> Commitment {
                Box::pin(async move { appended.await.map_err(|e| e.to_string()) })
            })
            .map_err(|e| e.to_string()),
        Some((_, proposer)) => {
            shared.stats.record_proposal(record.len());
            proposer
                .propose(header.zxid, record, job.origin.unwrap_or(0))
                .map(|committed| -> Commitment {
                    Box::pin(async move { committed.await.map_err(|e| e.to_string()) })
                })
                .map_err(|e| e.to_string())
        }
    };
    match commitment {
        Ok(commitment) => {
            shared.in_flight.fetch_add(1, Ordering::AcqRel);
            Some(Pending {
                header,
                commitment,
                changes: prepared.changes,
                reply: prepared.reply,
                reply_to: job.reply_to,
                session_event,
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

/// After a write could not be made durable: wait until nothing is in flight, cut the log back to
/// what was committed, and restart preparing from the committed tree. Clients of the failed
/// writes were disconnected; they retry as after any connection loss.
async fn recover_after_log_failure(shared: &Shared, log: &TxnLog) -> DataTree {
    while shared.in_flight.load(Ordering::Acquire) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let committed = shared.db.tree();
    if let Err(error) = log.truncate_after(committed.last_zxid()) {
        tracing::error!(%error, "cannot truncate the log after a failed write; retrying on the next write");
        return (*committed).clone();
    }
    shared.log_failed.store(false, Ordering::Release);
    tracing::warn!(
        zxid = committed.last_zxid(),
        "the transaction log accepts writes again"
    );
    (*committed).clone()
}

async fn run_commits(shared: Arc<Shared>, mut commits: mpsc::UnboundedReceiver<Batch>) {
    while let Some(Batch {
        writes,
        tree,
        generation,
    }) = commits.recv().await
    {
        let count = writes.len() as u64;
        let mut ok = !shared.log_failed.load(Ordering::Acquire);
        let mut committed = Vec::with_capacity(writes.len());
        for pending in writes {
            if ok && let Err(error) = pending.commitment.await {
                tracing::warn!(%error, zxid = pending.header.zxid, "a write was not committed");
                ok = false;
            }
            committed.push(Committed {
                header: pending.header,
                changes: pending.changes,
                reply: pending.reply,
                reply_to: pending.reply_to,
                session_event: pending.session_event,
            });
        }
        if ok && shared.write_generation() == generation {
            commit(&shared, tree, &committed);
        } else {
            // The batch's tree includes writes that are not committed: publish none of it. A
            // standalone processor cuts the log back to the committed tree before the next
            // write; a member that lost its role gets its history from the next leader.
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

/// A committed write, ready to publish.
#[derive(Debug)]
pub struct Committed {
    pub header: TxnHeader,
    pub changes: Vec<Change>,
    pub reply: WriteReply,
    pub reply_to: Option<ConnId>,
    pub session_event: Option<SessionEvent>,
}

/// Publishes a committed batch: its watch events first (in zxid order, so that no reader sees the
/// new tree before the events are queued), then the tree, then the replies. A reply therefore
/// never goes out before its client could read its own write. Snapshots follow the count of
/// transactions published.
pub fn commit(shared: &Arc<Shared>, tree: Arc<DataTree>, batch: &[Committed]) {
    let published = tree.clone();
    let changes = batch.iter().flat_map(|write| {
        write
            .changes
            .iter()
            .map(|change| (write.header.zxid, change))
    });
    shared
        .db
        .publish(tree, changes, |before, after, zxid, delivery| {
            shared.deliver(before, after, zxid, delivery);
        });
    for write in batch {
        shared.stats.record_commit();
        let session = write.header.session_id;
        match write.session_event {
            Some(SessionEvent::Created { timeout }) => {
                shared.sessions().track(
                    session,
                    u32::try_from(timeout).unwrap_or(0),
                    shared.now_ms(),
                );
            }
            Some(SessionEvent::Closed) => {
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
                    reply: write.reply.clone(),
                },
            );
        }
    }
    if shared.snapshot_due(batch.len() as u64) {
        crate::snapshot::spawn_snapshot(shared.clone(), published);
    }
}
