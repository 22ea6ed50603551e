//! The running server: shared state, the client listener, and the session and container
//! housekeeping tasks.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use zk_proto::response::write_reply_frame;
use zk_proto::{EventType, KeeperState, NOTIFICATION_XID, Perms, ReplyHeader, WatcherEvent};

use crate::acl::{AclPolicy, AuthId};
use crate::config::Config;
use crate::db::Database;
use crate::pipeline::{self, WriteJob};
use crate::prep::{PrepPolicy, WriteRequest};
use crate::sasl::JaasUsers;
use crate::session::{ExpiryTracker, initial_session_id};
use crate::stats::Stats;
use crate::storage::Storage;
use crate::tree::{Change, DataTree, NodeKind};
use crate::watch::{ConnId, Delivery};

/// What other tasks send to a connection, in the order it must reach the client.
#[derive(Debug)]
pub enum Outbound {
    /// The reply to the connection's oldest submitted write.
    Reply {
        zxid: i64,
        reply: crate::prep::WriteReply,
    },
    /// An encoded notification frame.
    Event(Bytes),
    /// Close the connection without a message (session expired or resumed elsewhere).
    Close,
}

/// Where writes go, given this member's role.
#[derive(Debug, Clone)]
pub enum WritePath {
    /// A standalone server logs its own writes.
    Standalone,
    /// A leader of an established term proposes them, with zxids above `epoch << 32`.
    Leader {
        epoch: i64,
        proposer: zk_peer::Proposer,
    },
    /// A learner forwards them to its leader.
    Learner { forwarder: zk_peer::Forwarder },
    /// A member looking for a leader in read-only mode refuses them (NOTREADONLY); its sessions
    /// are local to it.
    ReadOnly,
    /// An ensemble member without an established role refuses them.
    Closed,
}

/// A write a learner forwarded to its leader, waiting for its COMMIT to be answered.
#[derive(Debug)]
pub struct ForwardedWrite {
    pub session_id: i64,
    pub cxid: i32,
    pub request: WriteRequest,
    pub reply_to: Option<ConnId>,
}

/// A live client connection as the rest of the server sees it.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub tx: mpsc::UnboundedSender<Outbound>,
    pub session_id: Arc<AtomicI64>,
    /// The connection's identities, as published for watch deliveries; the connection keeps
    /// its own copy and replaces this one when an auth adds to them.
    pub ids: Arc<Mutex<Arc<[AuthId]>>>,
    pub remote: SocketAddr,
    /// Came through the TLS client port.
    pub secure: bool,
    pub stats: Arc<crate::stats::ConnStats>,
}

/// State every task of the server shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub policy: PrepPolicy,
    pub db: Database,
    pub storage: Storage,
    pub stats: Stats,
    pub writes: mpsc::Sender<WriteJob>,
    /// This member's own `server.N` line in an ensemble (`None` when standalone).
    pub member: Option<zk_peer::ServerSpec>,
    /// Where the client port listens (a reconfig may move it).
    client_address: Mutex<SocketAddr>,
    /// When the current role started serving clients.
    serving_since: Mutex<Option<Instant>>,
    /// The ensemble role, once the peer runs.
    pub peer: OnceLock<tokio::sync::watch::Receiver<zk_peer::PeerStatus>>,
    /// The peer's election counters (ensemble mode).
    pub peer_metrics: OnceLock<Arc<zk_peer::PeerMetrics>>,
    /// The learners connected while this member leads (for `observers`).
    pub peer_learners: OnceLock<Arc<zk_peer::Learners>>,
    /// Where writes go, and a generation counter that changes with every role.
    write_path: RwLock<(u64, WritePath)>,
    /// Learner: sessions its clients kept alive since the last ping (id → timeout).
    touched: Mutex<HashMap<i64, i32>>,
    /// Learner: writes forwarded to the leader, oldest first.
    forwarded: Mutex<VecDeque<ForwardedWrite>>,
    /// Learner: syncs forwarded to the leader, oldest first.
    syncs: Mutex<VecDeque<(ConnId, String)>>,
    snapshots: Mutex<crate::snapshot::Trigger>,
    /// Leader: which member each session's client is connected to (SESSIONMOVED otherwise).
    owners: Mutex<HashMap<i64, u64>>,
    /// Learner: sessions being resumed here, waiting for the leader's REVALIDATE answer.
    revalidations: Mutex<HashMap<i64, tokio::sync::oneshot::Sender<bool>>>,
    /// SASL DIGEST-MD5 users from the JAAS file, when SASL is configured.
    pub sasl_users: Option<Arc<JaasUsers>>,
    /// `enforce.auth.*`: the schemes a connection must hold an identity of before its requests
    /// (other than auth and SASL) are served.
    pub enforced_auth: Option<Vec<String>>,
    /// Set when the log failed a write; the processor recovers before the next one.
    pub log_failed: AtomicBool,
    /// Writes appended but not yet committed.
    pub in_flight: AtomicU64,
    /// ZooKeeper's trace mask (`gtmk`/`stmk`); kept for compatibility, logging uses tracing.
    pub trace_mask: AtomicI64,
    sessions: Mutex<ExpiryTracker>,
    conns: Mutex<HashMap<ConnId, ConnHandle>>,
    next_conn: AtomicU64,
    next_session: Mutex<i64>,
    started: Instant,
}

impl Shared {
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn is_ensemble(&self) -> bool {
        self.member.is_some()
    }

    /// Where the client port listens now.
    pub fn client_address(&self) -> SocketAddr {
        *lock(&self.client_address)
    }

    /// This member's id in an ensemble (`None` when standalone).
    pub fn myid(&self) -> Option<u64> {
        self.member.as_ref().map(|member| member.sid)
    }

    /// Looks at the write path and its generation under the lock, without copying it (the
    /// checks below run on every request).
    pub fn inspect_write_path<R>(&self, look: impl FnOnce(u64, &WritePath) -> R) -> R {
        let current = match self.write_path.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        look(current.0, &current.1)
    }

    /// The write path now, with its generation.
    pub fn write_path(&self) -> (u64, WritePath) {
        self.inspect_write_path(|generation, path| (generation, path.clone()))
    }

    /// The generation of the write path: it changes with every role.
    pub fn write_generation(&self) -> u64 {
        self.inspect_write_path(|generation, _| generation)
    }

    /// Whether this server serves client sessions now: standalone, or in an established role.
    pub fn serving(&self) -> bool {
        self.inspect_write_path(|_, path| !matches!(path, WritePath::Closed))
    }

    /// Whether this server forwards writes to a leader.
    pub fn is_learner(&self) -> bool {
        self.inspect_write_path(|_, path| matches!(path, WritePath::Learner { .. }))
    }

    /// Whether this server serves read-only clients only.
    pub fn is_read_only(&self) -> bool {
        self.inspect_write_path(|_, path| matches!(path, WritePath::ReadOnly))
    }

    /// Whether this server expires sessions and reaps containers: standalone or leading (and
    /// in read-only mode, for its local sessions).
    pub fn owns_sessions(&self) -> bool {
        self.inspect_write_path(|_, path| {
            matches!(
                path,
                WritePath::Standalone | WritePath::Leader { .. } | WritePath::ReadOnly
            )
        })
    }

    /// Switches the client side to what the peer's role allows.
    pub fn set_serving(&self, serving: zk_peer::Serving) {
        let path = match serving {
            zk_peer::Serving::Nothing => WritePath::Closed,
            zk_peer::Serving::Leader { epoch, proposer } => WritePath::Leader { epoch, proposer },
            zk_peer::Serving::Learner { forwarder, .. } => WritePath::Learner { forwarder },
            zk_peer::Serving::ReadOnly => WritePath::ReadOnly,
        };
        let read_only = matches!(path, WritePath::ReadOnly);
        let closed = matches!(path, WritePath::Closed);
        *lock(&self.serving_since) = (!closed).then(Instant::now);
        {
            let mut current = match self.write_path.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            current.0 += 1;
            current.1 = path;
        }
        // Forwarded writes of an ended role will not be answered; their clients retry.
        let abandoned: Vec<ConnId> = lock(&self.forwarded)
            .drain(..)
            .filter_map(|write| write.reply_to)
            .chain(lock(&self.syncs).drain(..).map(|(conn, _)| conn))
            .collect();
        lock(&self.touched).clear();
        lock(&self.owners).clear();
        lock(&self.revalidations).clear();
        if closed {
            // As ZooKeeper does when a member leaves its role: clients reconnect elsewhere.
            for handle in self.conns().values() {
                let _ = handle.tx.send(Outbound::Close);
            }
        } else {
            for conn in abandoned {
                self.send_to_conn(conn, Outbound::Close);
            }
            // Every session in the database starts a fresh timeout under the new role; a
            // read-only server knows only the local sessions it creates itself.
            let now = self.now_ms();
            let mut sessions = ExpiryTracker::new(self.config.tick_time);
            if !read_only {
                for (id, timeout) in self.db.tree().sessions() {
                    sessions.track(id, u32::try_from(timeout).unwrap_or(0), now);
                }
            }
            *self.sessions() = sessions;
        }
    }

    /// Refreshes a session for a request of its client; false if it is unknown or closing. A
    /// learner also notes it for the leader, which owns expiry.
    pub fn touch_session(&self, session: i64) -> bool {
        let mut sessions = self.sessions();
        if !sessions.touch(session, self.now_ms()) {
            return false;
        }
        if self.is_learner() {
            let timeout = sessions.timeout_of(session).unwrap_or(0);
            lock(&self.touched).insert(session, i32::try_from(timeout).unwrap_or(i32::MAX));
        }
        true
    }

    /// The sessions touched since the last call.
    pub fn take_touches(&self) -> Vec<(i64, i32)> {
        lock(&self.touched).drain().collect()
    }

    pub fn push_forwarded(&self, write: ForwardedWrite) {
        lock(&self.forwarded).push_back(write);
    }

    /// The forwarded write a committed transaction answers: the oldest one, if it matches.
    pub fn take_forwarded(&self, session_id: i64, cxid: i32) -> Option<ForwardedWrite> {
        let mut forwarded = lock(&self.forwarded);
        let front = forwarded.front()?;
        (front.session_id == session_id && front.cxid == cxid)
            .then(|| forwarded.pop_front())
            .flatten()
    }

    pub fn push_sync(&self, conn: ConnId, path: String) {
        lock(&self.syncs).push_back((conn, path));
    }

    /// The leader answered the oldest forwarded sync: every commit before it is applied.
    pub fn finish_sync(&self) {
        let Some((conn, path)) = lock(&self.syncs).pop_front() else {
            return;
        };
        let zxid = self.db.last_zxid();
        self.send_to_conn(
            conn,
            Outbound::Reply {
                zxid,
                reply: crate::prep::WriteReply::Synced { path },
            },
        );
    }

    /// How long the current role has served clients.
    pub fn serving_for(&self) -> Option<Duration> {
        lock(&self.serving_since).map(|since| since.elapsed())
    }

    /// Leader: whether `member` may act for `session`. A session's first member after an
    /// election claims it; resuming elsewhere moves it (see [`Shared::move_session`]).
    pub fn owns_session(&self, session: i64, member: u64) -> bool {
        *lock(&self.owners).entry(session).or_insert(member) == member
    }

    /// Leader: the session's client now talks to `member`.
    pub fn move_session(&self, session: i64, member: u64) {
        lock(&self.owners).insert(session, member);
    }

    pub fn forget_session_owner(&self, session: i64) {
        lock(&self.owners).remove(&session);
    }

    /// Learner: asks the leader whether `session` is live and takes it over. `None` when no
    /// answer came (the role ended, or `within` passed): the session's fate is unknown, and
    /// the client must be sent elsewhere rather than told it expired.
    pub async fn revalidate(&self, session: i64, timeout: u32, within: Duration) -> Option<bool> {
        let WritePath::Learner { forwarder } = self.write_path().1 else {
            return None;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.revalidations).insert(session, tx);
        if !forwarder.revalidate(session, i32::try_from(timeout).unwrap_or(i32::MAX)) {
            return None;
        }
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(valid)) => Some(valid),
            _ => None,
        }
    }

    /// Learner: the leader's answer to a REVALIDATE.
    pub fn revalidated(&self, session: i64, valid: bool) {
        if let Some(waiter) = lock(&self.revalidations).remove(&session) {
            let _ = waiter.send(valid);
        }
    }

    /// Counts published transactions; true when a snapshot is due.
    pub fn snapshot_due(&self, count: u64) -> bool {
        lock(&self.snapshots).count_and_check(count)
    }

    /// The role `srvr` prints (`standalone`, `leader`, ...), or `None` while looking.
    pub fn mode(&self) -> Option<&'static str> {
        if !self.is_ensemble() {
            return Some("standalone");
        }
        if self.is_read_only() {
            return Some("read-only");
        }
        match self.peer.get().map(|status| status.borrow().role) {
            None | Some(zk_peer::Role::Looking) => None,
            Some(role) => Some(role.mode()),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn sessions(&self) -> MutexGuard<'_, ExpiryTracker> {
        lock(&self.sessions)
    }

    pub fn conns(&self) -> MutexGuard<'_, HashMap<ConnId, ConnHandle>> {
        lock(&self.conns)
    }

    /// A fresh session id, unused by any open session.
    pub fn new_session_id(&self) -> i64 {
        let tree = self.db.tree();
        let mut next = lock(&self.next_session);
        loop {
            *next = next.wrapping_add(1);
            let id = *next;
            if id != 0 && id != i64::MIN && tree.session_timeout(id).is_none() {
                return id;
            }
        }
    }

    pub fn register_conn(&self, handle: ConnHandle) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.conns().insert(id, handle);
        id
    }

    pub fn unregister_conn(&self, conn: ConnId) {
        self.conns().remove(&conn);
        self.db.watches().remove_conn(conn);
    }

    pub fn send_to_conn(&self, conn: ConnId, message: Outbound) {
        if let Some(handle) = self.conns().get(&conn) {
            let _ = handle.tx.send(message);
        }
    }

    /// Closes, without a message, every connection bound to `session` except `keep`.
    pub fn close_session_conns_except(&self, session: i64, keep: Option<ConnId>) {
        for (id, handle) in self.conns().iter() {
            if Some(*id) != keep && handle.session_id.load(Ordering::Acquire) == session {
                let _ = handle.tx.send(Outbound::Close);
            }
        }
    }

    pub fn close_session_conns(&self, session: i64) {
        self.close_session_conns_except(session, None);
    }

    /// Number of connections from one address (for maxClientCnxns).
    pub fn conns_from(&self, ip: std::net::IpAddr) -> usize {
        self.conns()
            .values()
            .filter(|handle| handle.remote.ip() == ip)
            .count()
    }

    /// Sends one notification, unless the watcher may not read the node (3.9 behaviour,
    /// CVE-2024-23944): deletions are checked against the node as it was.
    pub fn deliver(&self, tree: &DataTree, zxid: i64, change: &Change, delivery: Delivery) {
        let conns = self.conns();
        let Some(handle) = conns.get(&delivery.conn) else {
            return;
        };
        let acl = match (delivery.event, change) {
            (EventType::NodeDeleted, Change::Deleted(_, acl)) => Some(acl),
            _ => tree.get(&delivery.path).map(|node| &node.acl),
        };
        if let Some(acl) = acl {
            let ids = lock(&handle.ids).clone();
            if !self.policy.acl.allows(acl, Perms::READ, &ids) {
                return;
            }
        }
        let _ = handle.tx.send(Outbound::Event(notification_frame(
            zxid,
            delivery.event,
            &delivery.path,
        )));
    }

    /// Queues a write from inside the server (session expiry, the reaper).
    pub fn submit_internal(&self, session_id: i64, request: WriteRequest) {
        let job = WriteJob {
            session_id,
            xid: 0,
            request,
            ids: Arc::from(Vec::new()),
            reply_to: None,
            wire: None,
            origin: None,
        };
        if let Err(error) = self.writes.try_send(job) {
            tracing::warn!(%error, "write queue full; internal write dropped, retried later");
        }
    }
}

/// Encodes a watch notification frame (xid -1).
pub fn notification_frame(zxid: i64, event: EventType, path: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + path.len());
    let header = ReplyHeader {
        xid: NOTIFICATION_XID,
        zxid,
        err: 0,
    };
    let body = WatcherEvent {
        event_type: event.as_i32(),
        state: KeeperState::SyncConnected.as_i32(),
        path: path.to_owned(),
    };
    write_reply_frame(&mut out, &header, Some(&body));
    out.freeze()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A server that has recovered its data and is ready to accept clients.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    /// The ensemble member this server is, in ensemble mode.
    peer: Option<zk_peer::QuorumPeer>,
}

impl Server {
    /// Recovers the database from `config.data_dir` and binds the client port.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let sasl_users = match &config.jaas_config {
            Some(path) => Some(Arc::new(JaasUsers::load(path).map_err(|e| {
                anyhow::anyhow!("cannot read the JAAS file {}: {e}", path.display())
            })?)),
            None => None,
        };
        let ensemble = crate::ensemble::ensemble_config(&config)?;
        let loading = std::time::Instant::now();
        let (storage, tree, recovery) = Storage::open(&config, ensemble.is_some())?;
        let ensemble = ensemble
            .map(|ensemble| crate::ensemble::in_force(ensemble, storage.snapshot_dir()))
            .transpose()?;
        let stats = Stats::default();
        stats.db_init_time.record_since(loading);
        stats.record_recovery(&recovery);
        let replayed = recovery.replayed;
        let (host, port) = crate::ensemble::client_address(&config, ensemble.as_ref());
        let addr = format!("{host}:{port}");
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let client_address = Mutex::new(listener.local_addr()?);
        let policy = PrepPolicy {
            acl: AclPolicy {
                skip_acl: config.skip_acl,
                super_digest: config.super_digest.clone(),
                sasl: config.auth_scheme_available("sasl"),
                x509: config.auth_scheme_available("x509"),
                digest_disabled: !config.auth_scheme_available("digest"),
            },
            extended_types: config.extended_types_enabled,
            enforce_quota: config.enforce_quota,
            ensemble: ensemble.is_some(),
        };
        let (writes_tx, writes_rx) =
            mpsc::channel(config.global_outstanding_limit.max(1) as usize * 4);
        let started = Instant::now();
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
            .unwrap_or(0);
        let mut sessions = ExpiryTracker::new(config.tick_time);
        for (id, timeout) in tree.sessions() {
            sessions.track(id, u32::try_from(timeout).unwrap_or(0), 0);
        }
        let myid = ensemble.as_ref().map(|e| e.myid);
        // Session ids carry the member's id in their top byte, so members never collide.
        let id_byte = myid.map_or(1, |id| u8::try_from(id).unwrap_or(u8::MAX));
        let write_path = match myid {
            Some(_) => WritePath::Closed,
            None => WritePath::Standalone,
        };
        let shared = Arc::new(Shared {
            policy,
            db: Database::new(tree),
            storage,
            stats,
            writes: writes_tx,
            log_failed: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            trace_mask: AtomicI64::new(306),
            sessions: Mutex::new(sessions),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            next_session: Mutex::new(initial_session_id(id_byte, wall_ms)),
            started,
            sasl_users,
            enforced_auth: config.enforced_auth_schemes(),
            member: ensemble.as_ref().map(|e| e.me().clone()),
            client_address,
            serving_since: Mutex::new(None),
            peer: OnceLock::new(),
            peer_metrics: OnceLock::new(),
            peer_learners: OnceLock::new(),
            write_path: RwLock::new((0, write_path)),
            touched: Mutex::new(HashMap::new()),
            forwarded: Mutex::new(VecDeque::new()),
            syncs: Mutex::new(VecDeque::new()),
            snapshots: Mutex::new(crate::snapshot::Trigger::new(config.snap_count)),
            owners: Mutex::new(HashMap::new()),
            revalidations: Mutex::new(HashMap::new()),
            config,
        });
        // A long replay at start-up would be repeated at every restart: snapshot now instead,
        // as ZooKeeper does after loading its database.
        if replayed >= (shared.config.snap_count / 2).max(1) {
            crate::snapshot::spawn_snapshot(shared.clone());
        }
        pipeline::start(shared.clone(), writes_rx);
        let peer = match ensemble {
            Some(ensemble) => {
                let peer = crate::ensemble::start_peer(ensemble, &shared).await?;
                let _ = shared.peer.set(peer.status());
                let _ = shared.peer_metrics.set(peer.metrics());
                let _ = shared.peer_learners.set(peer.learners());
                Some(peer)
            }
            None => None,
        };
        Ok(Server {
            shared,
            listener,
            peer,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves clients until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Server {
            shared,
            mut listener,
            peer,
        } = self;
        let mut moves = peer
            .as_ref()
            .map(|peer| crate::ensemble::ClientMoves::new(peer.membership()));
        tokio::spawn(expire_sessions(shared.clone()));
        tokio::spawn(reap_containers(shared.clone()));
        crate::storage::spawn_purge(shared.clone());
        if let Some(port) = shared.config.secure_client_port {
            spawn_tls_listener(shared.clone(), port).await?;
        }
        crate::admin::spawn(shared.clone()).await;
        crate::metrics::spawn(shared.clone()).await;
        tracing::info!(addr = %listener.local_addr()?, "serving clients");
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, remote) = match accepted {
                        Ok(pair) => pair,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let limit = shared.config.max_client_cnxns as usize;
                    if limit > 0 && shared.conns_from(remote.ip()) >= limit {
                        tracing::warn!(%remote, limit, "too many connections from this address; closing");
                        shared.stats.connections_rejected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    shared.stats.record_plain_connection(remote.ip());
                    tokio::spawn(crate::conn::serve(
                        shared.clone(),
                        stream,
                        remote,
                        crate::conn::Transport::Plain,
                    ));
                }
                (host, port) = crate::ensemble::next_move(&mut moves) => {
                    // As ZooKeeper's: connections made before stay where they are.
                    match TcpListener::bind((host.as_str(), port)).await {
                        Ok(moved) => {
                            let addr = moved.local_addr()?;
                            listener = moved;
                            *lock(&shared.client_address) = addr;
                            tracing::info!(%addr, "a reconfig moved the client port; serving clients there");
                        }
                        Err(error) => tracing::error!(
                            %error, addr = %format_args!("{host}:{port}"),
                            "a reconfig moved the client port, but it cannot listen there; serving clients where it did"
                        ),
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
        tracing::info!("shutting down");
        if let Some(peer) = peer {
            peer.shutdown().await;
        }
        Ok(())
    }
}

/// Serves the TLS client port: the same connections, inside TLS.
async fn spawn_tls_listener(shared: Arc<Shared>, port: u16) -> anyhow::Result<()> {
    let key_store = shared
        .config
        .ssl_key_store_location
        .clone()
        .ok_or_else(|| {
            anyhow::anyhow!("secureClientPort is set but ssl.keyStore.location is not")
        })?;
    let config = &shared.config;
    let acceptor = crate::tls::acceptor(
        &key_store,
        config.ssl_trust_store_location.as_deref(),
        config.client_auth(),
        &config.tls_choice(),
    )?;
    let host = config
        .secure_client_port_address
        .clone()
        .unwrap_or_else(|| config.client_port_address.clone());
    let addr = format!("{host}:{port}");
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "serving TLS clients");
    tokio::spawn(async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "TLS accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (acceptor, shared) = (acceptor.clone(), shared.clone());
            tokio::spawn(async move {
                let stats = &shared.stats;
                stats.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                let handshake = acceptor.accept(stream).await;
                stats.tls_handshakes.fetch_sub(1, Ordering::Relaxed);
                match handshake {
                    Ok(tls) => {
                        let identities = crate::tls::identities(
                            tls.get_ref().1.peer_certificates(),
                            shared.config.x509_super_user.as_deref(),
                        );
                        let transport = crate::conn::Transport::Tls { identities };
                        crate::conn::serve(shared, tls, remote, transport).await
                    }
                    Err(error) => {
                        stats.auth_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%remote, %error, "TLS handshake failed");
                    }
                }
            });
        }
    });
    Ok(())
}

/// Closes sessions whose deadline passed, one tick at a time.
async fn expire_sessions(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(shared.config.tick_time.max(1)));
    loop {
        ticker.tick().await;
        if !shared.owns_sessions() {
            continue;
        }
        let expired = shared.sessions().expire(shared.now_ms());
        for session in expired {
            tracing::info!(session = format_args!("0x{session:x}"), "session expired");
            shared
                .stats
                .sessions_expired
                .fetch_add(1, Ordering::Relaxed);
            shared.submit_internal(session, WriteRequest::CloseSession);
        }
    }
}

/// Deletes empty containers that once had children and expired TTL nodes (ZooKeeper's
/// ContainerManager), at most `container_max_per_minute` per minute.
async fn reap_containers(shared: Arc<Shared>) {
    let interval = Duration::from_millis(shared.config.container_check_interval_ms.max(10));
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if !shared.owns_sessions() {
            continue;
        }
        let tree = shared.db.tree();
        let now = pipeline::wall_clock_ms();
        let never_used =
            i64::try_from(shared.config.container_max_never_used_interval_ms).unwrap_or(i64::MAX);
        let per_tick = (u64::from(shared.config.container_max_per_minute)
            * interval.as_millis() as u64
            / 60_000)
            .max(1) as usize;
        let doomed: Vec<String> = tree
            .reapable()
            .filter(|(_, node)| node.num_children == 0)
            .filter(|(_, node)| match node.kind() {
                NodeKind::Container => {
                    node.cversion > 0 || (never_used > 0 && now - node.mtime > never_used)
                }
                NodeKind::Ttl(ttl) => now - node.mtime > ttl,
                _ => false,
            })
            .take(per_tick)
            .map(|(path, _)| path.to_string())
            .collect();
        for path in doomed {
            shared.submit_internal(0, WriteRequest::DeleteContainer { path });
        }
    }
}
