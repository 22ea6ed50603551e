//! The server's database as ZAB sees it (zk-peer's [`Replica`]): the log, the epoch files, the
//! published tree, and the client-side effects of the peer's role.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use zk_peer::{Epochs, Replica, ReplicaError, Serving, Sid, Txn};
use zk_proto::jute::Reader as JuteReader;
use zk_proto::peer::{ForwardedRequest, SessionTouch};
use zk_proto::{ErrorCode, OpCode, Request};
use zk_txnlog::{ACCEPTED_EPOCH, CURRENT_EPOCH};

/// The committed ensemble configuration this member runs, beside the epoch files (ZooKeeper
/// keeps it in a `zoo.cfg.dynamic.<version>` file).
const DYNAMIC_CONFIG: &str = "dynamicConfig";

use crate::acl::AuthId;
use crate::pipeline::{self, Committed, WriteJob};
use crate::prep::{self, WriteRequest};
use crate::server::Shared;
use crate::tree::{CONFIG_PATH, DataTree};
use crate::{snapshot, txn};

/// ZooKeeper's opcodes of the session transactions a learner forwards.
pub const OP_CREATE_SESSION: i32 = -10;
pub const OP_CLOSE_SESSION: i32 = -11;

/// The server's side of ZAB.
#[derive(Debug)]
pub struct ServerReplica {
    shared: Arc<Shared>,
    /// The ensemble's configuration text, which every tree this member serves carries in
    /// `/zookeeper/config`.
    config: Bytes,
}

impl ServerReplica {
    pub fn new(shared: Arc<Shared>, config: impl Into<Bytes>) -> Self {
        let replica = ServerReplica {
            shared,
            config: config.into(),
        };
        replica.shared.db.update(|tree| replica.write_config(tree));
        replica
    }

    /// Every tree this member serves carries its configuration in `/zookeeper/config`: the
    /// newest reconfig's when the tree holds one at least as new (its mzxid, the
    /// configuration's version, is not 0), else the one this member runs (the configuration
    /// file's, version 0, or the committed one it kept).
    fn write_config(&self, tree: &mut DataTree) {
        publish_config(tree, &self.config);
    }

    /// Serves `tree` from now on, with this member's configuration in it.
    fn install(&self, mut tree: DataTree) {
        self.write_config(&mut tree);
        self.shared.db.reset(tree);
    }

    fn epoch_dir(&self) -> &std::path::Path {
        self.shared.storage.snapshot_dir()
    }
}

/// Writes `text` into `/zookeeper/config` unless the tree holds a reconfig's configuration at
/// least as new; the node's mzxid is the configuration's version.
fn publish_config(tree: &mut DataTree, text: &[u8]) {
    let version = zk_peer::membership_version(text);
    let newer_held = tree
        .get(CONFIG_PATH)
        .is_some_and(|node| node.mzxid != 0 && node.mzxid >= version);
    if !newer_held {
        tree.set_config(text, version, pipeline::wall_clock_ms());
    }
}

/// The committed configuration a reconfig put in force, as kept beside the epoch files.
pub fn stored_membership(epoch_dir: &std::path::Path) -> Option<Bytes> {
    let path = epoch_dir.join(DYNAMIC_CONFIG);
    match std::fs::read(&path) {
        Ok(text) => Some(text.into()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            tracing::error!(file = %path.display(), %error, "cannot read the committed configuration");
            None
        }
    }
}

impl Replica for ServerReplica {
    fn last_logged_zxid(&self) -> i64 {
        // A snapshot installed by SNAP can be newer than the log's last record.
        let logged = self.shared.storage.log.last_logged_zxid();
        logged.max(self.shared.db.last_zxid()).max(0)
    }

    fn append(
        &self,
        zxid: i64,
        txn: Bytes,
    ) -> Result<BoxFuture<'static, Result<(), ReplicaError>>, ReplicaError> {
        let appended = self.shared.storage.log.append(zxid, txn)?;
        Ok(Box::pin(async move { appended.await.map_err(Into::into) }))
    }

    fn logged_after(
        &self,
        after: i64,
        up_to: i64,
    ) -> Result<Option<Vec<(i64, Bytes)>>, ReplicaError> {
        let mut records = self.shared.storage.log.iter_from(after)?;
        match records.next() {
            Some(Ok((first, _))) if first == after => {}
            Some(Err(error)) => return Err(error.into()),
            _ => return Ok(None),
        }
        let mut out = Vec::new();
        for record in records {
            let (zxid, data) = record?;
            if zxid > up_to {
                break;
            }
            out.push((zxid, data));
        }
        Ok(Some(out))
    }

    fn logged_before(&self, zxid: i64) -> Result<Option<i64>, ReplicaError> {
        let mut before = None;
        for record in self.shared.storage.log.iter_from(0)? {
            let (logged, _) = record?;
            if logged >= zxid {
                break;
            }
            before = Some(logged);
        }
        Ok(before)
    }

    fn truncate(&self, zxid: i64) -> Result<(), ReplicaError> {
        let storage = &self.shared.storage;
        storage.log.truncate_after(zxid)?;
        storage.snapshots.remove_newer_than(zxid)?;
        let (tree, recovery) = storage.rebuild_tree()?;
        self.shared.stats.record_recovery(&recovery);
        self.install(tree);
        Ok(())
    }

    fn epochs(&self) -> Result<Epochs, ReplicaError> {
        let read =
            |name| zk_txnlog::read_epoch(self.epoch_dir(), name).map(Option::unwrap_or_default);
        Ok(Epochs {
            accepted: read(ACCEPTED_EPOCH)?,
            current: read(CURRENT_EPOCH)?,
        })
    }

    fn set_accepted_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        Ok(zk_txnlog::write_epoch(
            self.epoch_dir(),
            ACCEPTED_EPOCH,
            epoch,
        )?)
    }

    fn set_current_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        Ok(zk_txnlog::finish_epoch_update(self.epoch_dir(), epoch)?)
    }

    fn begin_epoch_update(&self) -> Result<(), ReplicaError> {
        Ok(zk_txnlog::begin_epoch_update(self.epoch_dir())?)
    }

    fn last_applied(&self) -> i64 {
        self.shared.db.last_zxid()
    }

    fn store_membership(&self, text: &[u8]) -> Result<(), ReplicaError> {
        zk_txnlog::write_atomic(self.epoch_dir(), DYNAMIC_CONFIG, text)?;
        // A configuration no transaction carried (a term's version for the file's, see
        // zk_peer::leader) shows there as ZooKeeper's initConfigInZKDatabase shows it.
        self.shared.db.update(|tree| publish_config(tree, text));
        Ok(())
    }

    fn stored_membership(&self) -> Option<Bytes> {
        stored_membership(self.epoch_dir())
    }

    fn reconfig_in(&self, txn: &Bytes) -> Option<Bytes> {
        crate::txn::reconfig_config(txn)
    }

    fn membership_after(&self, version: i64) -> Option<Bytes> {
        let tree = self.shared.db.tree();
        let node = tree.get(CONFIG_PATH)?;
        // A committed reconfig's configuration has its zxid as version and mzxid.
        (node.mzxid > version).then(|| Bytes::copy_from_slice(node.data().unwrap_or_default()))
    }

    fn catch_up(&self) -> Result<(), ReplicaError> {
        let log = &self.shared.storage.log;
        // Usually the database already holds the whole log: no need to read a segment back.
        if log.last_logged_zxid() <= self.shared.db.last_zxid() {
            return Ok(());
        }
        self.shared.db.update(|tree| -> Result<(), ReplicaError> {
            let mut applied = 0u64;
            for record in log.iter_from(tree.last_zxid() + 1)? {
                let (zxid, data) = record?;
                let (header, txn) = txn::decode(data)
                    .map_err(|e| format!("cannot decode logged transaction 0x{zxid:x}: {e}"))?;
                tree.apply(&header, &txn);
                applied += 1;
            }
            tracing::info!(
                applied,
                last_zxid = format_args!("0x{:x}", tree.last_zxid()),
                "applied the logged history"
            );
            Ok(())
        })
    }

    fn apply_committed(&self, txns: Vec<Txn>) -> Result<(), ReplicaError> {
        let shared = &self.shared;
        let myid = shared.myid().and_then(|id| i64::try_from(id).ok());
        // Only this task applies to the tree while the member is a learner.
        let applied = shared.db.last_zxid();
        let mut committed = Vec::with_capacity(txns.len());
        for Txn {
            zxid,
            data,
            origin,
            digest,
            ..
        } in txns
        {
            if zxid <= applied {
                continue;
            }
            let (header, txn) = txn::decode(data)
                .map_err(|e| format!("cannot decode committed transaction 0x{zxid:x}: {e}"))?;
            // Only a write this member forwarded answers one of its clients (a session that
            // moved may have the same cxid pending here and at its new member).
            let local = (Some(origin) == myid)
                .then(|| shared.take_forwarded(header.session_id, header.cxid))
                .flatten();
            let (replay, reply_to) = match local {
                Some(write) => (Some(write.request), write.reply_to),
                None => (None, None),
            };
            committed.push(Committed {
                header,
                txn: Some(txn),
                reply: prep::WriteReply::Done,
                replay,
                reply_to,
                digest,
            });
        }
        if !committed.is_empty() {
            pipeline::commit(shared, committed);
        }
        Ok(())
    }

    fn write_snapshot(&self, out: &mut dyn Write) -> Result<i64, ReplicaError> {
        Ok(snapshot::write_database(&self.shared.db, out)?)
    }

    fn install_snapshot(&self, input: &mut dyn Read) -> Result<i64, ReplicaError> {
        let tree = snapshot::read_tree(input)?;
        let zxid = tree.last_zxid();
        let storage = &self.shared.storage;
        storage.snapshots.remove_newer_than(zxid)?;
        storage
            .snapshots
            .write(zxid, |out| snapshot::write_tree(&tree, out).map(drop))?;
        // Our log cannot continue past what the leader's history holds at this point.
        if storage.log.last_logged_zxid() > zxid {
            storage.log.truncate_after(zxid)?;
        }
        self.install(tree);
        Ok(zxid)
    }

    fn serve(&self, serving: Serving) {
        self.shared.set_serving(serving);
    }

    fn submit_forwarded(&self, from: Sid, request: ForwardedRequest) -> BoxFuture<'static, ()> {
        let mut job = forwarded_job(&self.shared, request);
        job.origin = Some(from);
        job.request = owned_request(&self.shared, job.session_id, from, job.request);
        let writes = self.shared.writes.clone();
        Box::pin(async move {
            if writes.send(job).await.is_err() {
                tracing::warn!(from, "write queue closed; forwarded request dropped");
            }
        })
    }

    fn take_session_touches(&self) -> Vec<SessionTouch> {
        self.shared
            .take_touches()
            .into_iter()
            .map(|(session_id, timeout_ms)| SessionTouch {
                session_id,
                timeout_ms,
            })
            .collect()
    }

    fn touch_sessions(&self, touches: &[SessionTouch]) {
        let now = self.shared.now_ms();
        let mut sessions = self.shared.sessions();
        for touch in touches {
            sessions.touch(touch.session_id, now);
        }
    }

    fn sync_done(&self) {
        self.shared.finish_sync();
    }

    fn revalidate(&self, from: Sid, session_id: i64, _timeout_ms: i32) -> bool {
        let live = self.shared.touch_session(session_id);
        if live {
            self.shared.move_session(session_id, from);
        }
        live
    }

    fn revalidated(&self, session_id: i64, valid: bool) {
        self.shared.revalidated(session_id, valid);
    }
}

/// The request as the leader prepares it: refused with SESSIONMOVED when its session's client
/// has moved to another member than `member` since.
pub fn owned_request(
    shared: &Shared,
    session_id: i64,
    member: u64,
    request: WriteRequest,
) -> WriteRequest {
    match request {
        WriteRequest::CreateSession { .. } => {
            shared.move_session(session_id, member);
            request
        }
        request if shared.owns_session(session_id, member) => request,
        _ => WriteRequest::Fail(ErrorCode::SessionMoved),
    }
}

/// The leader's form of a learner's forwarded request. A request it cannot read still gets a
/// transaction (an error), so that the learner's queue of forwarded writes stays in step.
fn forwarded_job(shared: &Shared, forwarded: ForwardedRequest) -> WriteJob {
    let request = match forwarded.op_type {
        OP_CREATE_SESSION => {
            let mut body = forwarded.body.clone();
            if body.remaining() >= 4 {
                WriteRequest::CreateSession {
                    timeout: body.get_i32(),
                }
            } else {
                WriteRequest::Fail(ErrorCode::MarshallingError)
            }
        }
        OP_CLOSE_SESSION => WriteRequest::CloseSession,
        op => OpCode::try_from(op)
            .ok()
            .and_then(|op| Request::decode(op, &mut JuteReader::new(forwarded.body.clone())).ok())
            .and_then(|request| prep::as_write(&request, shared.config.reconfig_enabled))
            .unwrap_or(WriteRequest::Fail(ErrorCode::MarshallingError)),
    };
    let ids: Vec<AuthId> = forwarded
        .auth
        .iter()
        .map(|id| AuthId::new(&id.scheme, &id.id))
        .collect();
    WriteJob {
        session_id: forwarded.session_id,
        xid: forwarded.cxid,
        request,
        ids: Arc::from(ids),
        reply_to: None,
        wire: None,
        origin: None,
    }
}
