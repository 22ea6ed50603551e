//! The write path: prepare → log (group commit) → publish → reply, in zxid order.
//!
//! The processor task prepares writes against its own copy of the tree (which runs ahead of the
//! committed one) and appends their transactions to the log without waiting. It takes every write
//! that is queued as one batch and hands the batch, with the one tree version it leaves, to the
//! commit task, which waits until the batch is durable, publishes that version, fires the watches
//! and answers the clients. A version per batch rather than per write keeps the copying of the
//! persistent tree's paths (and their freeing) proportional to batches; the log writer makes the
//! whole batch durable with one fsync anyway.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use zk_txnlog::{Appended, TxnLog};

use crate::acl::AuthId;
use crate::prep::{Caller, WriteReply, WriteRequest, prepare};
use crate::server::{Outbound, Shared};
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
    /// The connection to answer; `None` for internal writes (expiry, reaper).
    pub reply_to: Option<ConnId>,
}

/// A prepared write on its way to commit.
#[derive(Debug)]
struct Pending {
    header: TxnHeader,
    appended: Appended,
    changes: Vec<Change>,
    reply: WriteReply,
    reply_to: Option<ConnId>,
    session_event: Option<SessionEvent>,
}

/// Writes prepared together, and the tree they leave.
#[derive(Debug)]
struct Batch {
    writes: Vec<Pending>,
    tree: Arc<DataTree>,
}

/// Most writes prepared into one batch: bounds the reply latency of the first one.
const MAX_BATCH: usize = 1000;

#[derive(Debug, Clone, Copy)]
enum SessionEvent {
    Created { timeout: i32 },
    Closed,
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
    while let Some(first) = jobs.recv().await {
        if shared.log_failed.load(Ordering::Acquire) {
            tree = recover_after_log_failure(&shared, &log).await;
        }
        let mut writes = Vec::new();
        let mut next = Some(first);
        let mut failed = false;
        while let Some(job) = next.take() {
            match prepare_one(&shared, &log, &mut tree, job) {
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
            };
            if commits.send(batch).is_err() {
                return;
            }
        }
        if failed {
            tree = recover_after_log_failure(&shared, &log).await;
        }
    }
}

/// Prepares one write and appends it to the log. `None` when the log refused it (its client is
/// disconnected and the pipeline must recover).
fn prepare_one(
    shared: &Shared,
    log: &TxnLog,
    tree: &mut DataTree,
    job: WriteJob,
) -> Option<Pending> {
    let header = TxnHeader {
        session_id: job.session_id,
        cxid: job.xid,
        zxid: tree.last_zxid() + 1,
        time: wall_clock_ms(),
    };
    let caller = Caller {
        session_id: job.session_id,
        ids: &job.ids,
    };
    let prepared = prepare(tree, &header, caller, &shared.policy, &job.request);
    let session_event = match (&job.request, &prepared.txn) {
        (WriteRequest::CreateSession { .. }, Txn::CreateSession { timeout }) => {
            Some(SessionEvent::Created { timeout: *timeout })
        }
        (WriteRequest::CloseSession, Txn::CloseSession { .. }) => Some(SessionEvent::Closed),
        _ => None,
    };
    let record = txn::encode(&header, &prepared.txn);
    match log.append(header.zxid, record) {
        Ok(appended) => {
            shared.in_flight.fetch_add(1, Ordering::AcqRel);
            Some(Pending {
                header,
                appended,
                changes: prepared.changes,
                reply: prepared.reply,
                reply_to: job.reply_to,
                session_event,
            })
        }
        Err(error) => {
            tracing::error!(%error, zxid = header.zxid, "cannot append to the transaction log");
            shared.log_failed.store(true, Ordering::Release);
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
    let mut snapshotter = crate::snapshot::Trigger::new(shared.config.snap_count);
    while let Some(Batch { writes, tree }) = commits.recv().await {
        let count = writes.len() as u64;
        let mut durable = !shared.log_failed.load(Ordering::Acquire);
        let mut committed = Vec::with_capacity(writes.len());
        for pending in writes {
            if durable && let Err(error) = pending.appended.await {
                tracing::error!(%error, zxid = pending.header.zxid, "a write could not be made durable");
                durable = false;
            }
            committed.push(Committed {
                header: pending.header,
                changes: pending.changes,
                reply: pending.reply,
                reply_to: pending.reply_to,
                session_event: pending.session_event,
            });
        }
        if durable {
            commit(&shared, tree.clone(), &committed);
        } else {
            // The batch's tree includes writes that are not durable: publish none of it. The
            // processor cuts the log back to the committed tree before the next write.
            shared.log_failed.store(true, Ordering::Release);
            for write in &committed {
                if let Some(conn) = write.reply_to {
                    shared.send_to_conn(conn, Outbound::Close);
                }
            }
        }
        shared.in_flight.fetch_sub(count, Ordering::AcqRel);
        if durable && snapshotter.count_and_check(count) {
            crate::snapshot::spawn_snapshot(shared.clone(), tree);
        }
    }
}

/// A write whose log record is durable.
#[derive(Debug)]
struct Committed {
    header: TxnHeader,
    changes: Vec<Change>,
    reply: WriteReply,
    reply_to: Option<ConnId>,
    session_event: Option<SessionEvent>,
}

/// Publishes a durable batch: its watch events first (in zxid order, so that no reader sees the
/// new tree before the events are queued), then the tree, then the replies. A reply therefore
/// never goes out before its client could read its own write.
fn commit(shared: &Shared, tree: Arc<DataTree>, batch: &[Committed]) {
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
}
