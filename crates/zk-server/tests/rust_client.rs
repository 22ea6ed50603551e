//! The Rust `zookeeper-client` crate against a real zk-server process: operations and Stat
//! values, create modes (sequential, ephemeral, container, TTL), one-shot and persistent
//! recursive watches, multi, digest ACLs and whoAmI, chroot, the crate's lock, and a session kept
//! across a SIGKILL and restart of the server.
//!
//! `ZK_CLIENT_TEST_SERVER_BIN` runs the tests against another server program taking a zoo.cfg,
//! such as a script that execs Apache ZooKeeper, to check that the expectations are ZooKeeper's.
//! (ZooKeeper 3.8 reads `znode.container.checkIntervalMs` only as a Java system property, so there
//! its container reaper keeps its one-minute default and `create_modes` times out.)

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

/// How long anything the tests wait for may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(15);

/// A server process on a free loopback port, with its data in a temporary directory; killed
/// (by its PID, through `Child`) when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("zoo.cfg");
        let data = dir.path().join("data");
        std::fs::write(
            &config,
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 4lw.commands.whitelist=*\nextendedTypesEnabled=true\n\
                 znode.container.checkIntervalMs=100\nadmin.enableServer=false\n",
                data.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("server.log");
        let mut server = Server {
            child: None,
            port,
            config,
            log,
            _dir: dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let program = std::env::var_os("ZK_CLIENT_TEST_SERVER_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_zk-server").into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(program)
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.four_letter_word("ruok").as_deref() != Some("imok") {
            assert!(
                Instant::now() < deadline,
                "server did not answer ruok; log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, then a start on the same data directory and port.
    fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.spawn();
    }

    fn four_letter_word(&self, word: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(word.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn client(&self) -> zk::Client {
        self.connector().connect(&self.address()).await.unwrap()
    }

    fn connector(&self) -> zk::Connector {
        zk::Client::connector().with_session_timeout(Duration::from_secs(10))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("server log:\n{}", self.log_tail());
        }
    }
}

/// Waits for the next event of a one-shot or persistent watch, within [`PATIENCE`].
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls until `path` is gone (the container and TTL reapers run in the background).
async fn wait_until_gone(client: &zk::Client, path: &str) {
    let deadline = Instant::now() + PATIENCE;
    while client.check_stat(path).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{path} was never reaped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn operations_errors_and_stat() {
    let server = Server::start();
    let client = server.client().await;

    let (created, _) = client.create("/crud", b"one", OPEN).await.unwrap();
    assert_eq!(created.version, 0);
    assert_eq!(created.data_length, 3);
    assert_eq!(created.czxid, created.mzxid);
    assert_eq!(created.czxid, created.pzxid);
    assert_eq!(created.ephemeral_owner, 0);
    assert_eq!(
        client.get_data("/crud").await.unwrap(),
        (b"one".to_vec(), created)
    );

    let changed = client.set_data("/crud", b"two", Some(0)).await.unwrap();
    assert_eq!(changed.version, 1);
    assert!(changed.mzxid > created.mzxid);
    assert_eq!(changed.czxid, created.czxid);
    assert_eq!(
        client.set_data("/crud", b"three", Some(0)).await,
        Err(zk::Error::BadVersion)
    );
    assert_eq!(
        client.create("/crud", b"", OPEN).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        client.get_data("/missing").await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        client
            .create("/missing/child", b"", OPEN)
            .await
            .unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(client.check_stat("/missing").await.unwrap(), None);

    let (child, _) = client.create("/crud/child", b"c", OPEN).await.unwrap();
    let (children, parent) = client.get_children("/crud").await.unwrap();
    assert_eq!(children, vec!["child".to_string()]);
    assert_eq!(parent.num_children, 1);
    assert_eq!(parent.cversion, 1);
    assert_eq!(parent.pzxid, child.czxid);
    assert_eq!(client.count_descendants_number("/crud").await.unwrap(), 1);
    assert_eq!(
        client.delete("/crud", None).await.unwrap_err(),
        zk::Error::NotEmpty
    );
    assert_eq!(
        client.delete("/crud/child", Some(5)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    client.delete("/crud/child", Some(0)).await.unwrap();
    client.sync("/crud").await.unwrap();
    let (children, parent) = client.get_children("/crud").await.unwrap();
    assert!(children.is_empty());
    assert_eq!(parent.cversion, 2);
    client.delete("/crud", None).await.unwrap();
    assert_eq!(client.check_stat("/crud").await.unwrap(), None);
}

#[tokio::test]
async fn create_modes() {
    let server = Server::start();
    let client = server.client().await;
    client.create("/modes", b"", OPEN).await.unwrap();

    let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, first) = client
        .create("/modes/seq-", b"", &sequential)
        .await
        .unwrap();
    let (_, second) = client
        .create("/modes/seq-", b"", &sequential)
        .await
        .unwrap();
    assert_eq!(second.into_i64(), first.into_i64() + 1);
    let mut names = client.list_children("/modes").await.unwrap();
    names.sort();
    assert_eq!(names, vec![format!("seq-{first}"), format!("seq-{second}")]);
    assert!(names[0].len() == "seq-".len() + 10, "{names:?}");

    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let (stat, _) = client.create("/modes/mine", b"", &ephemeral).await.unwrap();
    assert_eq!(stat.ephemeral_owner, client.session_id().0);
    assert_eq!(
        client.list_ephemerals("/").await.unwrap(),
        vec!["/modes/mine".to_string()]
    );
    assert_eq!(
        client
            .create("/modes/mine/child", b"", OPEN)
            .await
            .unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
    let other = server.client().await;
    drop(client);
    wait_until_gone(&other, "/modes/mine").await;

    // The reapers: a container once its last child goes, a TTL node once its TTL passes.
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    other.create("/box", b"", &container).await.unwrap();
    other.create("/box/item", b"", OPEN).await.unwrap();
    other.delete("/box/item", None).await.unwrap();
    wait_until_gone(&other, "/box").await;
    let ttl = OPEN.clone().with_ttl(Duration::from_millis(300));
    let (stat, _) = other.create("/ttl", b"", &ttl).await.unwrap();
    assert_eq!(stat.version, 0);
    wait_until_gone(&other, "/ttl").await;
}

#[tokio::test]
async fn watches() {
    let server = Server::start();
    let client = server.client().await;
    let writer = server.client().await;
    client.create("/w", b"", OPEN).await.unwrap();

    let (_, _, data_watch) = client.get_and_watch_data("/w").await.unwrap();
    writer.set_data("/w", b"x", None).await.unwrap();
    let event = within("a data watch", data_watch.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    assert_eq!(event.path, "/w");

    let (_, exists_watch) = client.check_and_watch_stat("/w/new").await.unwrap();
    let (_, _, child_watch) = client.get_and_watch_children("/w").await.unwrap();
    writer.create("/w/new", b"", OPEN).await.unwrap();
    let event = within("an exists watch", exists_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeCreated, "/w/new")
    );
    let event = within("a child watch", child_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeChildrenChanged, "/w")
    );

    // A persistent recursive watch sees every change below, in order, and stays.
    let mut recursive = client
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer.create("/w/new/deep", b"", OPEN).await.unwrap();
    writer.set_data("/w/new/deep", b"d", None).await.unwrap();
    writer.delete("/w/new/deep", None).await.unwrap();
    writer.set_data("/w", b"y", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = within("a recursive watch", recursive.changed()).await;
        seen.push((event.event_type, event.path));
    }
    assert_eq!(
        seen,
        vec![
            (zk::EventType::NodeCreated, "/w/new/deep".to_string()),
            (zk::EventType::NodeDataChanged, "/w/new/deep".to_string()),
            (zk::EventType::NodeDeleted, "/w/new/deep".to_string()),
            (zk::EventType::NodeDataChanged, "/w".to_string()),
        ]
    );
}

#[tokio::test]
async fn multi_is_all_or_nothing() {
    let server = Server::start();
    let client = server.client().await;
    client.create("/m", b"0", OPEN).await.unwrap();

    let mut writer = client.new_multi_writer();
    writer.add_create("/m/a", b"a", OPEN).unwrap();
    writer.add_set_data("/m", b"1", Some(0)).unwrap();
    writer.add_check_version("/m", 1).unwrap();
    writer.add_delete("/m/a", None).unwrap();
    let results = writer.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(
        matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if path == "/m/a"),
        "{results:?}"
    );
    assert!(
        matches!(&results[1], zk::MultiWriteResult::SetData { stat } if stat.version == 1),
        "{results:?}"
    );
    assert!(matches!(results[2], zk::MultiWriteResult::Check));
    assert!(matches!(results[3], zk::MultiWriteResult::Delete));

    writer.add_create("/m/b", b"", OPEN).unwrap();
    writer.add_check_version("/m", 7).unwrap();
    assert_eq!(
        writer.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion
        }
    );
    assert_eq!(client.check_stat("/m/b").await.unwrap(), None);

    let mut reader = client.new_multi_reader();
    reader.add_get_data("/m").unwrap();
    reader.add_get_children("/m").unwrap();
    reader.add_get_data("/m/none").unwrap();
    let results = reader.commit().await.unwrap();
    assert!(
        matches!(&results[0], zk::MultiReadResult::Data { data, stat } if data == b"1" && stat.version == 1),
        "{results:?}"
    );
    assert!(
        matches!(&results[1], zk::MultiReadResult::Children { children } if children.is_empty()),
        "{results:?}"
    );
    assert!(
        matches!(
            &results[2],
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ),
        "{results:?}"
    );
}

#[tokio::test]
async fn digest_acls_and_who_am_i() {
    let server = Server::start();
    let owner = server
        .connector()
        .with_auth("digest", b"rust:secret")
        .connect(&server.address())
        .await
        .unwrap();
    let private = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create("/private", b"hidden", &private).await.unwrap();
    let (acl, _) = owner.get_acl("/private").await.unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    // base64(sha1("rust:secret")), ZooKeeper's digest.
    assert_eq!(acl[0].id(), "rust:NYGrSM+DS0sd24ne/B55PuUjMkE=");
    assert_eq!(acl[0].permission(), zk::Permission::ALL);
    assert_eq!(owner.get_data("/private").await.unwrap().0, b"hidden");

    let users = owner.list_auth_users().await.unwrap();
    assert!(
        users.contains(&zk::AuthUser::new("digest", "rust")),
        "{users:?}"
    );
    assert!(
        users.contains(&zk::AuthUser::new("ip", "127.0.0.1")),
        "{users:?}"
    );

    let stranger = server.client().await;
    assert_eq!(
        stranger.get_data("/private").await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        stranger.set_data("/private", b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    stranger.auth("digest", b"rust:secret").await.unwrap();
    assert_eq!(stranger.get_data("/private").await.unwrap().0, b"hidden");
}

#[tokio::test]
async fn chroot_and_lock() {
    let server = Server::start();
    let root = server.client().await;
    root.create("/app", b"", OPEN).await.unwrap();
    let app = server.client().await.chroot("/app").unwrap();
    app.create("/x", b"in app", OPEN).await.unwrap();
    assert_eq!(root.get_data("/app/x").await.unwrap().0, b"in app");
    assert_eq!(app.list_children("/").await.unwrap(), vec!["x".to_string()]);

    // The crate's Curator-compatible lock: the second contender waits for the first.
    let first = server.client().await;
    let second = server.client().await;
    let prefix = zk::LockPrefix::new_curator("/app", "lock-").unwrap();
    let held = first
        .lock(prefix, b"", zk::Acls::anyone_all())
        .await
        .unwrap();
    let contender = tokio::spawn(async move {
        let prefix = zk::LockPrefix::new_curator("/app", "lock-").unwrap();
        let lock = second
            .lock(prefix, b"", zk::Acls::anyone_all())
            .await
            .unwrap();
        lock.lock_path().to_string()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!contender.is_finished(), "the lock was granted twice");
    let first_path = held.lock_path().to_string();
    drop(held);
    let second_path = within("the lock to pass on", contender).await.unwrap();
    assert_ne!(first_path, second_path);
    assert!(second_path.starts_with("/app/_c_"), "{second_path}");
}

#[tokio::test]
async fn session_survives_a_server_kill() {
    let mut server = Server::start();
    let client = server.client().await;
    let session = client.session_id();
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/kept", b"data", OPEN).await.unwrap();
    client.create("/eph", b"", &ephemeral).await.unwrap();

    server.kill_and_restart();

    // The client reconnects on its own, to the same session.
    let deadline = Instant::now() + PATIENCE;
    let data = loop {
        match client.get_data("/kept").await {
            Ok((data, _)) => break data,
            Err(zk::Error::ConnectionLoss) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("after the restart: {error}"),
        }
    };
    assert_eq!(data, b"data");
    assert_eq!(client.session_id(), session);
    let stat = client.check_stat("/eph").await.unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, session.0);
    client.set_data("/kept", b"after", None).await.unwrap();
    assert_eq!(client.get_data("/kept").await.unwrap().0, b"after");
}
