//! The load generator: N sessions, each keeping up to K requests in flight, measured over a
//! common window after a warm-up; and the bulk loader that fills a server with znodes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::task::JoinSet;
use zk_proto::{
    Acl, CreateMode, CreateRequest, ErrorCode, GetDataRequest, Request, SetDataRequest,
};

use super::cpu::{cores_used, cpu_time};
use super::session::{FrameTemplate, Session};
use super::stats::{RunResult, Tally};

/// Size of every value written.
pub const VALUE_SIZE: usize = 100;

/// A workload, as named on the command line and in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// Sequential creates under a per-client parent.
    Create,
    /// setData on a per-client node.
    Set,
    /// getData on a per-client node.
    Get,
    /// 90% getData, 10% setData on a per-client node.
    Mix,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Create,
        Scenario::Set,
        Scenario::Get,
        Scenario::Mix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Set => "setData",
            Scenario::Get => "getData",
            Scenario::Mix => "90% get / 10% set",
        }
    }

    /// The operation a session sends as its `seq`-th request.
    pub fn op_at(self, seq: u64) -> Op {
        match self {
            Scenario::Create => Op::Create,
            Scenario::Set => Op::Set,
            Scenario::Get => Op::Get,
            Scenario::Mix if seq % 10 == 9 => Op::Set,
            Scenario::Mix => Op::Get,
        }
    }
}

/// One kind of request of the hot loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Set,
    Get,
}

/// One measured run: a scenario at a client count.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub scenario: Scenario,
    pub clients: usize,
    pub pipeline: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The servers a run loads: one standalone server, or every member of an ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Client addresses; sessions are spread over them round-robin.
    pub members: Vec<SocketAddr>,
    /// The server processes, whose CPU use is summed over the window (none: not sampled).
    pub pids: Vec<u32>,
}

impl Target {
    /// One server, CPU not sampled.
    pub fn single(addr: SocketAddr) -> Self {
        Target {
            members: vec![addr],
            pids: Vec::new(),
        }
    }

    /// The member session `index` connects to.
    fn member_for(&self, index: usize) -> Option<SocketAddr> {
        let count = self.members.len();
        (count > 0)
            .then(|| self.members.get(index % count).copied())
            .flatten()
    }
}

/// The common measurement window: replies that arrive inside it are counted.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// The value every write carries.
fn value() -> Bytes {
    Bytes::from(vec![b'v'; VALUE_SIZE])
}

pub(super) fn create_request(path: String, mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(value()),
        acl: Acl::open_unsafe(),
        flags: mode.as_i32(),
    })
}

/// The pre-encoded requests of one session: its node is `node`.
#[derive(Debug)]
struct Templates {
    create: FrameTemplate,
    set: FrameTemplate,
    get: FrameTemplate,
}

impl Templates {
    fn for_node(node: &str) -> Self {
        Templates {
            create: FrameTemplate::new(&create_request(
                format!("{node}/n-"),
                CreateMode::PersistentSequential,
            )),
            set: FrameTemplate::new(&Request::SetData(SetDataRequest {
                path: node.to_owned(),
                data: Some(value()),
                version: -1,
            })),
            get: FrameTemplate::new(&Request::GetData(GetDataRequest {
                path: node.to_owned(),
                watch: false,
            })),
        }
    }

    fn get(&self, op: Op) -> &FrameTemplate {
        match op {
            Op::Create => &self.create,
            Op::Set => &self.set,
            Op::Get => &self.get,
        }
    }
}

/// Connects `count` sessions, spread round-robin over the target's members.
async fn connect_all(target: &Target, count: usize) -> anyhow::Result<Vec<Session>> {
    let mut sessions = Vec::with_capacity(count);
    for index in 0..count {
        let addr = target
            .member_for(index)
            .context("no server to connect to")?;
        let session = Session::connect(addr)
            .await
            .with_context(|| format!("session {index} could not start on {addr}"))?;
        sessions.push(session);
    }
    Ok(sessions)
}

/// Creates a persistent node with a 100-byte value unless it exists.
async fn ensure_node(session: &mut Session, path: &str) -> anyhow::Result<()> {
    session
        .call_accepting(
            &create_request(path.to_owned(), CreateMode::Persistent),
            &[ErrorCode::NodeExists],
        )
        .await
        .with_context(|| format!("cannot create {path}"))?;
    Ok(())
}

/// Runs one scenario at one client count against `target`.
pub async fn run(target: &Target, spec: LoadSpec) -> anyhow::Result<RunResult> {
    if spec.clients == 0 || spec.pipeline == 0 {
        bail!("clients and pipeline must be at least 1");
    }
    let mut sessions = connect_all(target, spec.clients).await?;
    let root = format!("/bench-{:?}-{}", spec.scenario, spec.clients).to_lowercase();
    let mut nodes = Vec::with_capacity(spec.clients);
    for (index, session) in sessions.iter_mut().enumerate() {
        if index == 0 {
            ensure_node(session, &root).await?;
        }
        let node = format!("{root}/c{index}");
        ensure_node(session, &node).await?;
        nodes.push(node);
    }

    let start = Instant::now() + spec.warmup;
    let window = Window {
        start,
        end: start + spec.duration,
    };
    let cpu_sampler = tokio::spawn(cores_used_over(window, target.pids.clone()));
    let mut workers = JoinSet::new();
    for (session, node) in sessions.into_iter().zip(&nodes) {
        let templates = Templates::for_node(node);
        let server = session.server();
        workers.spawn(async move {
            drive(session, templates, spec, window)
                .await
                .with_context(|| format!("a session on {server}"))
        });
    }
    let mut total = Tally::default();
    while let Some(joined) = workers.join_next().await {
        let (session, tally) = joined.context("a load task panicked")??;
        total.merge(tally);
        let server = session.server();
        session
            .close()
            .await
            .with_context(|| format!("closing a session on {server}"))?;
    }
    let (server_cores, client_cores) = cpu_sampler.await.context("the CPU sampler panicked")?;
    Ok(RunResult {
        server_cores,
        client_cores,
        ..total.summarize(spec.duration)
    })
}

/// Cores used by the servers (together) and by this process over the window.
async fn cores_used_over(window: Window, server_pids: Vec<u32>) -> (f64, f64) {
    let sample = || (total_cpu_time(&server_pids), cpu_time(std::process::id()));
    tokio::time::sleep_until(window.start.into()).await;
    let (server_before, client_before) = sample();
    let started = Instant::now();
    tokio::time::sleep_until(window.end.into()).await;
    let (server_after, client_after) = sample();
    let wall = started.elapsed();
    (
        cores_used(server_before, server_after, wall),
        cores_used(client_before, client_after, wall),
    )
}

/// The CPU time of all `pids`; `None` when there are none or one cannot be read.
fn total_cpu_time(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&pid| cpu_time(pid)).sum()
}

/// One session's loop: keep `pipeline` requests in flight until the window ends, then drain.
async fn drive(
    mut session: Session,
    templates: Templates,
    spec: LoadSpec,
    window: Window,
) -> anyhow::Result<(Session, Tally)> {
    let mut tally = Tally::default();
    let mut in_flight: VecDeque<(i32, Instant)> = VecDeque::with_capacity(spec.pipeline);
    let mut seq = 0u64;
    let now = Instant::now();
    for _ in 0..spec.pipeline {
        let xid = session.queue_template(templates.get(spec.scenario.op_at(seq)));
        seq += 1;
        in_flight.push_back((xid, now));
    }
    session.flush().await?;
    while let Some((xid, sent)) = in_flight.pop_front() {
        let reply = session.recv().await?;
        let done = Instant::now();
        if reply.header.xid != xid {
            bail!("reply xid {} while waiting for {xid}", reply.header.xid);
        }
        if done >= window.start && done < window.end {
            tally.record(done - sent, reply.header.err);
        }
        if done < window.end {
            let xid = session.queue_template(templates.get(spec.scenario.op_at(seq)));
            seq += 1;
            in_flight.push_back((xid, done));
            session.flush().await?;
        }
    }
    Ok((session, tally))
}

/// What a bulk load did.
#[derive(Debug, Clone)]
pub struct BulkLoad {
    /// The node whose create was acknowledged last.
    pub last_path: String,
    pub elapsed: Duration,
}

/// Creates `total` persistent znodes of 100 bytes under `root` with `clients` sessions, each
/// keeping `pipeline` creates in flight, then closes the sessions.
pub async fn bulk_create(
    addr: SocketAddr,
    root: &str,
    total: usize,
    clients: usize,
    pipeline: usize,
) -> anyhow::Result<BulkLoad> {
    if clients == 0 || pipeline == 0 {
        bail!("clients and pipeline must be at least 1");
    }
    let started = Instant::now();
    let mut sessions = connect_all(&Target::single(addr), clients).await?;
    let mut workers = JoinSet::new();
    for (index, mut session) in sessions.drain(..).enumerate() {
        if index == 0 {
            ensure_node(&mut session, root).await?;
        }
        let parent = format!("{root}/c{index}");
        ensure_node(&mut session, &parent).await?;
        // Spread the remainder over the first sessions.
        let count = total / clients + usize::from(index < total % clients);
        workers.spawn(create_many(session, parent, count, pipeline));
    }
    let mut last: Option<(Instant, String)> = None;
    while let Some(joined) = workers.join_next().await {
        let (session, finished) = joined.context("a load task panicked")??;
        session.close().await?;
        if let Some((at, path)) = finished
            && last.as_ref().is_none_or(|(best, _)| at > *best)
        {
            last = Some((at, path));
        }
    }
    let (_, last_path) = last.context("nothing was created")?;
    Ok(BulkLoad {
        last_path,
        elapsed: started.elapsed(),
    })
}

/// One session's share of a bulk load; returns when and which node was created last.
async fn create_many(
    mut session: Session,
    parent: String,
    count: usize,
    pipeline: usize,
) -> anyhow::Result<(Session, Option<(Instant, String)>)> {
    let path = |index: usize| format!("{parent}/n{index:07}");
    let mut in_flight: VecDeque<(i32, usize)> = VecDeque::with_capacity(pipeline);
    let mut next = 0;
    let mut last = None;
    while next < count.min(pipeline) {
        in_flight.push_back((
            session.queue(&create_request(path(next), CreateMode::Persistent)),
            next,
        ));
        next += 1;
    }
    session.flush().await?;
    while let Some((xid, index)) = in_flight.pop_front() {
        let reply = session.recv().await?;
        if reply.header.xid != xid {
            bail!("reply xid {} while waiting for {xid}", reply.header.xid);
        }
        if reply.header.err != 0 {
            bail!(
                "create {} failed with error {}",
                path(index),
                reply.header.err
            );
        }
        last = Some((Instant::now(), path(index)));
        if next < count {
            in_flight.push_back((
                session.queue(&create_request(path(next), CreateMode::Persistent)),
                next,
            ));
            next += 1;
            session.flush().await?;
        }
    }
    Ok((session, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_nine_gets_to_one_set() {
        let ops: Vec<Op> = (0..1000).map(|seq| Scenario::Mix.op_at(seq)).collect();
        let sets = ops.iter().filter(|&&op| op == Op::Set).count();
        let gets = ops.iter().filter(|&&op| op == Op::Get).count();
        assert_eq!((gets, sets), (900, 100));
    }

    #[test]
    fn single_scenarios_send_one_kind_of_request() {
        for (scenario, op) in [
            (Scenario::Create, Op::Create),
            (Scenario::Set, Op::Set),
            (Scenario::Get, Op::Get),
        ] {
            assert!((0..50).all(|seq| scenario.op_at(seq) == op), "{scenario:?}");
        }
    }

    #[test]
    fn sessions_are_spread_round_robin_over_the_members() {
        let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let target = Target {
            members: vec![addr(1), addr(2), addr(3)],
            pids: Vec::new(),
        };
        let chosen: Vec<_> = (0..7).filter_map(|i| target.member_for(i)).collect();
        assert_eq!(
            chosen,
            [1, 2, 3, 1, 2, 3, 1].map(addr).to_vec(),
            "session i goes to member i mod 3"
        );
        assert_eq!(Target::single(addr(9)).member_for(5), Some(addr(9)));
        let empty = Target {
            members: Vec::new(),
            pids: Vec::new(),
        };
        assert_eq!(empty.member_for(0), None);
    }

    #[test]
    fn cpu_of_several_servers_is_summed_or_unknown() {
        let me = std::process::id();
        assert_eq!(total_cpu_time(&[]), None);
        let one = total_cpu_time(&[me]).unwrap();
        let two = total_cpu_time(&[me, me]).unwrap();
        assert!(two >= one * 2, "{two:?} < 2 × {one:?}");
        assert_eq!(total_cpu_time(&[me, u32::MAX]), None);
    }

    #[test]
    fn writes_carry_a_hundred_byte_value() {
        let Request::Create(create) = create_request("/a".into(), CreateMode::Persistent) else {
            panic!("not a create");
        };
        assert_eq!(create.data.map(|d| d.len()), Some(VALUE_SIZE));
        assert_eq!(create.flags, CreateMode::Persistent.as_i32());
    }
}
