//! The write load of `cargo xtask bench-failover`, and the check that follows it.
//!
//! Writers create sequential znodes one at a time, each session pinned to one member. When its
//! member dies (or stops answering) a writer does what a ZooKeeper client does: it takes its
//! session to another live member, and starts a new session only once the old one has expired.
//! Every acknowledged create is logged with the moments it was sent and acknowledged, which
//! gives the failover window; afterwards every member, after `sync`, must list every one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use zk_proto::{CreateMode, ErrorCode, GetChildrenRequest, Request, Response, SyncRequest};

use super::load::create_request;
use super::session::{Credentials, Session, SessionRefused};

/// Sequential creates per parent before a writer moves to a new one: keeps every getChildren
/// reply of the check far below the 1 MB frame limit.
const CREATES_PER_PARENT: usize = 10_000;
/// One connection attempt (TCP and handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After every member refused a writer, before it tries them again: eight writers retrying
/// without pause would take CPU from the election they wait for.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Closing the sessions at the end, politely.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The missing paths a report lists.
pub const MISSING_SHOWN: usize = 5;

/// One create the ensemble acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedCreate {
    pub path: String,
    pub sent: Instant,
    pub acked: Instant,
}

/// What the writers did, shared with the controller while they run.
#[derive(Debug, Default)]
pub struct WriteLog {
    /// In the order acknowledged.
    pub acks: Vec<AckedCreate>,
    /// The last acknowledgement each writer received.
    last_ack: Vec<Option<Instant>>,
    /// Creates whose connection broke (or timed out) before the reply: their outcome is unknown.
    pub interrupted: u64,
    /// Sessions taken to another connection.
    pub reconnects: u64,
    /// Sessions a member said had expired (the writer then starts a new one). A session moved
    /// within its timeout is live: each of these is a finding about the member.
    pub expiries: Vec<Expiry>,
    /// Error replies, by code.
    pub errors: BTreeMap<i32, u64>,
}

impl WriteLog {
    fn new(writers: usize) -> Self {
        WriteLog {
            last_ack: vec![None; writers],
            ..WriteLog::default()
        }
    }

    /// When the first create sent at or after `since` was acknowledged: a create sent after
    /// the leader died can only have been committed by its successor.
    pub fn first_ack_of_sent_after(&self, since: Instant) -> Option<Instant> {
        self.acks
            .iter()
            .rev()
            .take_while(|ack| ack.acked >= since)
            .filter(|ack| ack.sent >= since)
            .map(|ack| ack.acked)
            .min()
    }

    /// Whether every writer has had a create acknowledged since `since`.
    pub fn all_writing_since(&self, since: Instant) -> bool {
        self.last_ack
            .iter()
            .all(|last| last.is_some_and(|at| at >= since))
    }
}

/// A member refused to resume a session, as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub member: SocketAddr,
    pub session_id: i64,
    /// Wall-clock time, to find the moment in the member's log.
    pub at: SystemTime,
}

/// State shared by the writers and the controller.
#[derive(Debug)]
struct Shared {
    members: Vec<SocketAddr>,
    root: String,
    log: Mutex<WriteLog>,
    stop: AtomicBool,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, WriteLog> {
        // A writer that panicked leaves a log that is still worth reading.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The running writers.
#[derive(Debug)]
pub struct WriteLoad {
    shared: Arc<Shared>,
    writers: JoinSet<()>,
}

impl WriteLoad {
    /// Creates `root` through the first member, then starts `writers` sessions as tasks of
    /// the current runtime; writer i is pinned to member i mod the member count.
    pub async fn start(
        members: Vec<SocketAddr>,
        writers: usize,
        root: &str,
    ) -> anyhow::Result<Self> {
        let first = *members.first().context("no member to write to")?;
        let mut session = Session::connect(first).await?;
        session
            .call_accepting(
                &create_request(root.to_owned(), CreateMode::Persistent),
                &[ErrorCode::NodeExists],
            )
            .await
            .with_context(|| format!("cannot create {root}"))?;
        session.close().await?;
        let shared = Arc::new(Shared {
            members,
            root: root.to_owned(),
            log: Mutex::new(WriteLog::new(writers)),
            stop: AtomicBool::new(false),
        });
        let mut tasks = JoinSet::new();
        for index in 0..writers {
            tasks.spawn(write_loop(index, Arc::clone(&shared)));
        }
        Ok(WriteLoad {
            shared,
            writers: tasks,
        })
    }

    /// Reads the log as it is now.
    pub fn with_log<T>(&self, read: impl FnOnce(&WriteLog) -> T) -> T {
        read(&self.shared.log())
    }

    /// Polls (from a thread outside the runtime) until `done` holds for the log or `timeout`
    /// passes; returns what `done` returned last.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        poll: Duration,
        done: impl Fn(&WriteLog) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = self.with_log(&done) {
                return Some(value);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(poll);
        }
    }

    /// Stops the writers after their current create and returns the log.
    pub async fn stop(mut self) -> anyhow::Result<WriteLog> {
        self.shared.stop.store(true, Ordering::Relaxed);
        while let Some(joined) = self.writers.join_next().await {
            joined.context("a writer panicked")?;
        }
        Ok(std::mem::take(&mut *self.shared.log()))
    }
}

/// Member indexes in the order writer `pinned` tries them: its own first, then the next ones.
fn reconnect_order(pinned: usize, members: usize) -> impl Iterator<Item = usize> {
    (0..members).map(move |step| (pinned + step) % members)
}

/// The parent of a writer's `chunk`-th batch of creates.
fn parent_path(root: &str, writer: usize, chunk: usize) -> String {
    format!("{root}/w{writer}-{chunk}")
}

/// A session that went away, as a client keeps it to resume elsewhere.
#[derive(Debug, Clone)]
struct Resumable {
    credentials: Credentials,
    last_zxid_seen: i64,
}

impl Resumable {
    fn of(session: &Session) -> Self {
        Resumable {
            credentials: session.credentials().clone(),
            last_zxid_seen: session.last_zxid_seen(),
        }
    }
}

/// One writer: sequential creates, one at a time, until told to stop.
async fn write_loop(index: usize, shared: Arc<Shared>) {
    let pinned = index % shared.members.len().max(1);
    let mut session: Option<Session> = None;
    let mut resumable: Option<Resumable> = None;
    let mut chunk = 0;
    let mut created_in_chunk = 0;
    let mut parent_exists = false;
    while !shared.stopping() {
        let current = match session.as_mut() {
            Some(current) => current,
            None => match connect(&shared, pinned, &mut resumable).await {
                Some(connected) => session.insert(connected),
                None => continue,
            },
        };
        // As long as a ZooKeeper client waits for a reply before it drops the connection.
        let request_timeout = current.timeout() * 2 / 3;
        let parent = parent_path(&shared.root, index, chunk);
        let (request, is_parent) = if parent_exists {
            let path = format!("{parent}/n-");
            (
                create_request(path, CreateMode::PersistentSequential),
                false,
            )
        } else {
            (create_request(parent, CreateMode::Persistent), true)
        };
        let sent = Instant::now();
        let outcome = tokio::time::timeout(request_timeout, current.call(&request)).await;
        let acked = Instant::now();
        match outcome {
            Ok(Ok((header, response))) => {
                let code = header.err;
                if is_parent && (code == 0 || code == ErrorCode::NodeExists.code()) {
                    parent_exists = true;
                } else if let (0, Response::Create(created)) = (code, response) {
                    let mut log = shared.log();
                    log.acks.push(AckedCreate {
                        path: created.path,
                        sent,
                        acked,
                    });
                    if let Some(last) = log.last_ack.get_mut(index) {
                        *last = Some(acked);
                    }
                    created_in_chunk += 1;
                    if created_in_chunk == CREATES_PER_PARENT {
                        chunk += 1;
                        created_in_chunk = 0;
                        parent_exists = false;
                    }
                } else {
                    *shared.log().errors.entry(code).or_default() += 1;
                    if code == ErrorCode::SessionExpired.code() {
                        session = None;
                        resumable = None;
                    }
                }
            }
            Ok(Err(_)) | Err(_) => {
                if !is_parent {
                    shared.log().interrupted += 1;
                }
                resumable = Some(Resumable::of(current));
                session = None;
            }
        }
    }
    if let Some(session) = session {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close()).await;
    }
}

/// Takes the writer's session to the first member that accepts it (a new session when none is
/// kept, or when a member says it expired); `None` after a pause when no member accepted.
async fn connect(
    shared: &Shared,
    pinned: usize,
    resumable: &mut Option<Resumable>,
) -> Option<Session> {
    for member in reconnect_order(pinned, shared.members.len()) {
        let addr = *shared.members.get(member)?;
        let attempt = async {
            match resumable.as_ref() {
                Some(kept) => Session::resume(addr, &kept.credentials, kept.last_zxid_seen).await,
                None => Session::connect(addr).await,
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(session)) => {
                let mut log = shared.log();
                if resumable.take().is_some() {
                    log.reconnects += 1;
                }
                return Some(session);
            }
            Ok(Err(error)) if error.is::<SessionRefused>() => {
                if let Some(kept) = resumable.take() {
                    shared.log().expiries.push(Expiry {
                        member: addr,
                        session_id: kept.credentials.session_id,
                        at: SystemTime::now(),
                    });
                }
            }
            Ok(Err(_)) | Err(_) => {}
        }
        if shared.stopping() {
            return None;
        }
    }
    tokio::time::sleep(RETRY_PAUSE).await;
    None
}

/// What one member holds of the acknowledged creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCheck {
    pub addr: SocketAddr,
    /// Acknowledged creates this member does not have.
    pub missing: Vec<String>,
    /// Nodes under the writers' parents that were never acknowledged (creates interrupted by a
    /// failover that committed nonetheless).
    pub unacknowledged: usize,
    /// Every child of every writer parent, to compare the members with each other.
    children: BTreeMap<String, BTreeSet<String>>,
}

/// The check of every member after the load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    pub members: Vec<MemberCheck>,
}

impl Verification {
    /// Acknowledged creates missing on at least one member.
    pub fn lost(&self) -> BTreeSet<&str> {
        self.members
            .iter()
            .flat_map(|member| member.missing.iter().map(String::as_str))
            .collect()
    }

    /// Whether every member lists exactly the same children.
    pub fn members_agree(&self) -> bool {
        self.members
            .windows(2)
            .all(|pair| matches!(pair, [a, b] if a.children == b.children))
    }
}

/// Acknowledged creates by parent path: name sets to look up in getChildren replies.
fn by_parent<'a>(
    paths: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in paths {
        let (parent, name) = path
            .rsplit_once('/')
            .with_context(|| format!("acknowledged path {path:?} has no parent"))?;
        parents
            .entry(parent.to_owned())
            .or_default()
            .insert(name.to_owned());
    }
    Ok(parents)
}

/// Compares one member's children with the acknowledged creates.
fn compare(
    addr: SocketAddr,
    acked: &BTreeMap<String, BTreeSet<String>>,
    children: BTreeMap<String, BTreeSet<String>>,
) -> MemberCheck {
    let mut missing = Vec::new();
    let mut unacknowledged = 0;
    let empty = BTreeSet::new();
    for (parent, names) in acked {
        let present = children.get(parent).unwrap_or(&empty);
        missing.extend(
            names
                .difference(present)
                .map(|name| format!("{parent}/{name}")),
        );
    }
    for (parent, present) in &children {
        let names = acked.get(parent).unwrap_or(&empty);
        unacknowledged += present.difference(names).count();
    }
    MemberCheck {
        addr,
        missing,
        unacknowledged,
        children,
    }
}

/// Reads, through each member after a `sync`, the children of every writer parent under `root`
/// and compares them with the acknowledged creates.
pub async fn verify(
    members: &[SocketAddr],
    root: &str,
    acks: &[AckedCreate],
) -> anyhow::Result<Verification> {
    let acked = by_parent(acks.iter().map(|ack| ack.path.as_str()))?;
    let mut checks = Vec::with_capacity(members.len());
    for &addr in members {
        let mut session = Session::connect(addr).await?;
        session
            .call_accepting(&Request::Sync(SyncRequest { path: root.into() }), &[])
            .await
            .with_context(|| format!("sync through {addr}"))?;
        // Parents with no acknowledged create count too: their children were never acknowledged.
        let parents = list_children(&mut session, root).await?;
        let mut children = BTreeMap::new();
        for parent in parents {
            let path = format!("{root}/{parent}");
            let names = list_children(&mut session, &path).await?;
            children.insert(path, names.into_iter().collect());
        }
        for parent in acked.keys() {
            children.entry(parent.clone()).or_default();
        }
        session.close().await?;
        checks.push(compare(addr, &acked, children));
    }
    Ok(Verification { members: checks })
}

async fn list_children(session: &mut Session, path: &str) -> anyhow::Result<Vec<String>> {
    let request = Request::GetChildren(GetChildrenRequest {
        path: path.to_owned(),
        watch: false,
    });
    match session.call_accepting(&request, &[]).await? {
        Response::GetChildren(reply) => Ok(reply.children),
        other => bail!("getChildren {path} answered {other:?}"),
    }
}

/// Whether a member's children set is worth a closer look: every unacknowledged node must come
/// from a create whose reply was lost, so there can be no more of them than such creates.
pub fn unexplained_unacknowledged(check: &MemberCheck, interrupted: u64) -> bool {
    u64::try_from(check.unacknowledged).unwrap_or(u64::MAX) > interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn ack(base: Instant, path: &str, sent: u64, acked: u64) -> AckedCreate {
        AckedCreate {
            path: path.into(),
            sent: at(base, sent),
            acked: at(base, acked),
        }
    }

    #[test]
    fn the_window_ends_at_the_first_ack_of_a_create_sent_after_the_kill() {
        let base = Instant::now();
        let mut log = WriteLog::new(2);
        log.acks = vec![
            ack(base, "/a", 0, 5),
            // Sent before the kill at 100, acknowledged after it: committed by the old leader.
            ack(base, "/b", 90, 120),
            ack(base, "/c", 400, 900),
            ack(base, "/d", 300, 950),
        ];
        assert_eq!(
            log.first_ack_of_sent_after(at(base, 100)),
            Some(at(base, 900))
        );
        assert_eq!(log.first_ack_of_sent_after(at(base, 1000)), None);
        assert_eq!(
            log.first_ack_of_sent_after(base),
            Some(at(base, 5)),
            "every create counts after an early instant"
        );
    }

    #[test]
    fn all_writers_must_have_written_since_an_instant() {
        let base = Instant::now();
        let mut log = WriteLog::new(2);
        assert!(!log.all_writing_since(base));
        log.last_ack = vec![Some(at(base, 10)), Some(at(base, 3))];
        assert!(log.all_writing_since(at(base, 3)));
        assert!(!log.all_writing_since(at(base, 5)));
    }

    #[test]
    fn writers_try_their_own_member_first_then_the_others() {
        assert_eq!(reconnect_order(1, 3).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(reconnect_order(0, 1).collect::<Vec<_>>(), vec![0]);
        let mut all: Vec<_> = reconnect_order(4, 5).collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        assert_eq!(reconnect_order(0, 0).count(), 0);
    }

    #[test]
    fn parents_change_per_writer_and_chunk() {
        assert_eq!(parent_path("/failover", 3, 0), "/failover/w3-0");
        assert_ne!(parent_path("/f", 1, 12), parent_path("/f", 11, 2));
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_member_missing_an_acknowledged_create_is_reported() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let acked = by_parent(["/f/w0-0/n-1", "/f/w0-0/n-2", "/f/w1-0/n-1"]).unwrap();
        let mut children = BTreeMap::new();
        children.insert("/f/w0-0".to_owned(), names(&["n-1", "n-2", "n-3"]));
        children.insert("/f/w1-0".to_owned(), names(&[]));
        let check = compare(addr, &acked, children.clone());
        assert_eq!(check.missing, vec!["/f/w1-0/n-1"]);
        assert_eq!(
            check.unacknowledged, 1,
            "n-3 was created but never acknowledged"
        );
        assert!(!unexplained_unacknowledged(&check, 1));
        assert!(unexplained_unacknowledged(&check, 0));

        children.insert("/f/w1-0".to_owned(), names(&["n-1"]));
        let whole = compare(addr, &acked, children);
        assert!(whole.missing.is_empty());
        assert_eq!(whole.unacknowledged, 1);

        let both = Verification {
            members: vec![check.clone(), whole.clone()],
        };
        assert_eq!(
            both.lost().into_iter().collect::<Vec<_>>(),
            vec!["/f/w1-0/n-1"]
        );
        assert!(!both.members_agree());
        let same = Verification {
            members: vec![whole.clone(), whole],
        };
        assert!(same.lost().is_empty());
        assert!(same.members_agree());
    }

    #[test]
    fn a_missing_parent_loses_all_its_creates() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let acked = by_parent(["/f/w0-0/n-1", "/f/w0-0/n-2"]).unwrap();
        let check = compare(addr, &acked, BTreeMap::new());
        assert_eq!(check.missing.len(), 2);
        assert!(by_parent(["no-slash"]).is_err());
    }
}
