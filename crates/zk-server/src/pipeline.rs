//! The write path: prepare → log (group commit) → publish → reply, in zxid order.
//!
//! The processor task prepares each write against its own copy of the tree (which runs ahead of
//! the committed one), appends the transaction to the log without waiting, and passes the new tree
//! version on. The commit task waits for each record to be durable, in order, then publishes that
//! version, fires its watches and answers the client. Many writes share one fsync because the log
//! writer takes everything queued at once.

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
    tree: Arc<DataTree>,
    changes: Vec<Change>,
    reply: WriteReply,
    reply_to: Option<ConnId>,
    session_event: Option<SessionEvent>,
}

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
    commits: mpsc::UnboundedSender<Pending>,
) {
    while let Some(job) = jobs.recv().await {
        if shared.log_failed.load(Ordering::Acquire) {
            tree = recover_after_log_failure(&shared, &log).await;
        }
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
        let prepared = prepare(&mut tree, &header, caller, &shared.policy, &job.request);
        let session_event = match (&job.request, &prepared.txn) {
            (WriteRequest::CreateSession { .. }, Txn::CreateSession { timeout }) => {
                Some(SessionEvent::Created { timeout: *timeout })
            }
            (WriteRequest::CloseSession, Txn::CloseSession { .. }) => Some(SessionEvent::Closed),
            _ => None,
        };
        let record = txn::encode(&header, &prepared.txn);
        let appended = match log.append(header.zxid, record) {
            Ok(appended) => appended,
            Err(error) => {
                tracing::error!(%error, zxid = header.zxid, "cannot append to the transaction log");
                shared.log_failed.store(true, Ordering::Release);
                if let Some(conn) = job.reply_to {
                    shared.send_to_conn(conn, Outbound::Close);
                }
                tree = recover_after_log_failure(&shared, &log).await;
                continue;
            }
        };
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let pending = Pending {
            header,
            appended,
            tree: Arc::new(tree.clone()),
            changes: prepared.changes,
            reply: prepared.reply,
            reply_to: job.reply_to,
            session_event,
        };
        if commits.send(pending).is_err() {
            return;
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

async fn run_commits(shared: Arc<Shared>, mut commits: mpsc::UnboundedReceiver<Pending>) {
    let mut snapshotter = crate::snapshot::Trigger::new(shared.config.snap_count);
    while let Some(pending) = commits.recv().await {
        let Pending {
            header,
            appended,
            tree,
            changes,
            reply,
            reply_to,
            session_event,
        } = pending;
        let durable = if shared.log_failed.load(Ordering::Acquire) {
            Err(())
        } else {
            appended.await.map_err(|error| {
                tracing::error!(%error, zxid = header.zxid, "a write could not be made durable");
            })
        };
        shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        if durable.is_err() {
            shared.log_failed.store(true, Ordering::Release);
            if let Some(conn) = reply_to {
                shared.send_to_conn(conn, Outbound::Close);
            }
            continue;
        }
        let committed = Committed {
            header,
            tree,
            changes,
            reply,
            reply_to,
            session_event,
        };
        commit(&shared, &committed);
        if snapshotter.count_and_check() {
            crate::snapshot::spawn_snapshot(shared.clone(), committed.tree);
        }
    }
}

/// A write whose log record is durable.
#[derive(Debug)]
struct Committed {
    header: TxnHeader,
    tree: Arc<DataTree>,
    changes: Vec<Change>,
    reply: WriteReply,
    reply_to: Option<ConnId>,
    session_event: Option<SessionEvent>,
}

/// Publishes one durable write and answers its client.
fn commit(shared: &Shared, pending: &Committed) {
    let zxid = pending.header.zxid;
    shared.db.publish(
        pending.tree.clone(),
        &pending.changes,
        |before, after, delivery| {
            shared.deliver(before, after, zxid, delivery);
        },
    );
    shared.stats.record_commit();
    let session = pending.header.session_id;
    match pending.session_event {
        Some(SessionEvent::Created { timeout }) => {
            shared.sessions().track(
                session,
                u32::try_from(timeout).unwrap_or(0),
                shared.now_ms(),
            );
        }
        Some(SessionEvent::Closed) => {
            shared.sessions().remove(session);
            if pending.reply_to.is_none() {
                shared.close_session_conns(session);
            }
        }
        None => {}
    }
    if let Some(conn) = pending.reply_to {
        shared.send_to_conn(
            conn,
            Outbound::Reply {
                zxid,
                reply: pending.reply.clone(),
            },
        );
    }
}
