//! ZooKeeper's audit log (`audit.enable=true`): a line for each change a client asked for, on
//! the server the client is connected to, for each ephemeral deleted with its session (on every
//! member), and for the server's start and stop. The lines are ZooKeeper's, so that what reads
//! its `zookeeper_audit.log` reads ours: tab-separated `key=value` fields in the order session,
//! user, ip, operation, znode, znode_type, acl, then `result=success|failure|invoked`. They go
//! to the tracing target `zk_audit` (INFO; failures at ERROR, as ZooKeeper's logger does).
//!
//! What is audited follows ZooKeeper's `AuditHelper`: create, create2 and createContainer (a
//! single createTTL is not), delete, setData, setACL, multi (a line per create, delete and
//! setData it made, or one `multiOperation` failure) and reconfig.

use std::fmt;

use std::sync::OnceLock;

use zk_proto::consts::{CreateMode, Perms};
use zk_proto::multi::MultiOp;
use zk_proto::records::Acl;
use zk_proto::request::Request;

use crate::acl::AuthId;
use crate::prep::{OpResult, WriteReply};

/// How an audited operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Invoked,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub session: Option<String>,
    pub user: Option<String>,
    pub ip: Option<String>,
    pub operation: &'static str,
    pub znode: Option<String>,
    pub znode_type: Option<&'static str>,
    pub acl: Option<String>,
    pub outcome: Outcome,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [
            ("session", self.session.as_deref()),
            ("user", self.user.as_deref()),
            ("ip", self.ip.as_deref()),
            ("operation", Some(self.operation)),
            ("znode", self.znode.as_deref()),
            ("znode_type", self.znode_type),
            ("acl", self.acl.as_deref()),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                write!(f, "{key}={value}\t")?;
            }
        }
        let result = match self.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Invoked => "invoked",
        };
        write!(f, "result={result}")
    }
}

/// Writes an event to the audit target.
pub fn emit(event: &Event) {
    match event.outcome {
        Outcome::Failure => tracing::error!(target: "zk_audit", "{event}"),
        Outcome::Success | Outcome::Invoked => tracing::info!(target: "zk_audit", "{event}"),
    }
}

/// An audited request, kept from its arrival until its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audited {
    Single(Change),
    Multi(Vec<Change>),
    Reconfig,
}

/// One change a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    operation: &'static str,
    path: String,
    znode_type: Option<&'static str>,
    acl: Option<String>,
}

impl Audited {
    /// The audited form of a request; `None` for requests that are not audited.
    pub fn of(request: &Request) -> Option<Audited> {
        let single = match request {
            Request::Create(req) | Request::Create2(req) | Request::CreateContainer(req) => {
                create(&req.path, req.flags)
            }
            Request::Delete(req) => change("delete", &req.path),
            Request::SetData(req) => change("setData", &req.path),
            Request::SetAcl(req) => Change {
                acl: Some(acl_to_string(&req.acl)),
                ..change("setAcl", &req.path)
            },
            Request::Multi(multi) => {
                return Some(Audited::Multi(
                    multi
                        .ops
                        .iter()
                        .filter_map(|op| match op {
                            MultiOp::Create { req, .. } => Some(create(&req.path, req.flags)),
                            // ZooKeeper knows no mode for a TTL create in a multi.
                            MultiOp::CreateTtl(req) => Some(change("create", &req.path)),
                            MultiOp::Delete(req) => Some(change("delete", &req.path)),
                            MultiOp::SetData(req) => Some(change("setData", &req.path)),
                            _ => None,
                        })
                        .collect(),
                ));
            }
            Request::Reconfig(_) => return Some(Audited::Reconfig),
            _ => return None,
        };
        Some(Audited::Single(single))
    }

    /// The lines for this request's reply, as seen by `who`.
    pub fn events(&self, reply: &WriteReply, who: &Who<'_>) -> Vec<Event> {
        let session = format!("0x{:x}", who.session_id);
        let user = users(who.ids);
        let event =
            |operation, znode: Option<&str>, znode_type, acl: Option<&String>, outcome| Event {
                session: Some(session.clone()),
                user: user.clone(),
                ip: Some(who.ip.to_owned()),
                operation,
                znode: znode.map(str::to_owned),
                znode_type,
                acl: acl.cloned(),
                outcome,
            };
        match (self, reply) {
            (Audited::Single(change), WriteReply::Single(result)) => {
                let (znode, outcome) = match result {
                    OpResult::Failed(_) => (change.path.as_str(), Outcome::Failure),
                    OpResult::Created { path, .. } => (path.as_str(), Outcome::Success),
                    _ => (change.path.as_str(), Outcome::Success),
                };
                vec![event(
                    change.operation,
                    Some(znode),
                    change.znode_type,
                    change.acl.as_ref(),
                    outcome,
                )]
            }
            (Audited::Multi(changes), WriteReply::Multi(results)) => {
                if results.iter().any(|r| matches!(r, OpResult::Failed(_))) {
                    return vec![event("multiOperation", None, None, None, Outcome::Failure)];
                }
                // Results of the multi's checks have no change: pair the rest in order.
                let made = results.iter().filter(|r| !matches!(r, OpResult::Checked));
                changes
                    .iter()
                    .zip(made)
                    .map(|(change, result)| match result {
                        // ZooKeeper finds a create's mode by the path created, which a
                        // sequential create does not match.
                        OpResult::Created { path, .. } => event(
                            change.operation,
                            Some(path),
                            change.znode_type.filter(|_| *path == change.path),
                            None,
                            Outcome::Success,
                        ),
                        _ => event(
                            change.operation,
                            Some(&change.path),
                            None,
                            None,
                            Outcome::Success,
                        ),
                    })
                    .collect()
            }
            (Audited::Reconfig, WriteReply::Single(OpResult::Reconfigured { .. })) => vec![event(
                "reconfig",
                Some(crate::tree::CONFIG_PATH),
                None,
                None,
                Outcome::Success,
            )],
            (Audited::Reconfig, _) => vec![event("reconfig", None, None, None, Outcome::Failure)],
            _ => Vec::new(),
        }
    }
}

/// Who asked: the connection's session, address and identities.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub session_id: i64,
    pub ip: &'a str,
    pub ids: &'a [AuthId],
}

fn change(operation: &'static str, path: &str) -> Change {
    Change {
        operation,
        path: path.to_owned(),
        znode_type: None,
        acl: None,
    }
}

fn create(path: &str, flags: i32) -> Change {
    Change {
        znode_type: CreateMode::try_from(flags).ok().map(mode_name),
        ..change("create", path)
    }
}

/// A create mode as ZooKeeper's `CreateMode.toString().toLowerCase()` spells it.
fn mode_name(mode: CreateMode) -> &'static str {
    match mode {
        CreateMode::Persistent => "persistent",
        CreateMode::Ephemeral => "ephemeral",
        CreateMode::PersistentSequential => "persistent_sequential",
        CreateMode::EphemeralSequential => "ephemeral_sequential",
        CreateMode::Container => "container",
        CreateMode::PersistentWithTtl => "persistent_with_ttl",
        CreateMode::PersistentSequentialWithTtl => "persistent_sequential_with_ttl",
    }
}

/// ACLs as ZooKeeper's `ZKUtil.aclToString` writes them: `scheme:id:perms`, one after the
/// other with nothing between.
fn acl_to_string(acls: &[Acl]) -> String {
    let mut out = String::new();
    for acl in acls {
        out.push_str(acl.id.scheme.as_deref().unwrap_or(""));
        out.push(':');
        out.push_str(acl.id.id.as_deref().unwrap_or(""));
        out.push(':');
        let letters = [
            (Perms::CREATE, 'c'),
            (Perms::DELETE, 'd'),
            (Perms::READ, 'r'),
            (Perms::WRITE, 'w'),
            (Perms::ADMIN, 'a'),
        ];
        for (bit, letter) in letters {
            if acl.perms & bit != 0 {
                out.push(letter);
            }
        }
    }
    out
}

/// The `user` field: each identity's user name as its scheme's provider gives it (a digest's
/// user before the colon; `super`, which has no provider, none), comma-separated.
fn users(ids: &[AuthId]) -> Option<String> {
    let names: Vec<&str> = ids
        .iter()
        .filter(|id| id.scheme != "super")
        .map(|id| match id.scheme.as_str() {
            "digest" => id.id.split(':').next().unwrap_or(""),
            _ => id.id.as_str(),
        })
        .filter(|name| !name.trim().is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// A line written by the server itself (start, stop, an ephemeral deleted with its session),
/// as the operating-system user that runs it.
pub fn server_event(
    operation: &'static str,
    session_id: Option<i64>,
    znode: Option<&str>,
    outcome: Outcome,
) -> Event {
    Event {
        session: session_id.map(|id| format!("0x{id:x}")),
        user: Some(system_user().to_owned()),
        ip: None,
        operation,
        znode: znode.map(str::to_owned),
        znode_type: None,
        acl: None,
        outcome,
    }
}

/// The user running the server, as Java's `user.name` gives it: the password file's name for
/// this process's uid, else `$USER`, else `<NA>` (ZooKeeper's fallback). Looked up once.
fn system_user() -> &'static str {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(lookup_system_user)
}

fn lookup_system_user() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        });
    let from_passwd = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| {
                passwd.lines().find_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    (fields.nth(1)? == uid).then(|| name.to_owned())
                })
            })
    });
    from_passwd
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "<NA>".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::ErrorCode;
    use zk_proto::multi::MultiRequest;
    use zk_proto::records::{CreateRequest, DeleteRequest, Id, SetAclRequest, SetDataRequest};

    fn who(ids: &[AuthId]) -> Who<'_> {
        Who {
            session_id: 0x1000a2b3c0001,
            ip: "127.0.0.1",
            ids,
        }
    }

    fn create_request(path: &str, flags: i32) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: None,
            acl: Vec::new(),
            flags,
        }
    }

    fn lines(request: &Request, reply: &WriteReply, ids: &[AuthId]) -> Vec<String> {
        Audited::of(request)
            .map(|audited| audited.events(reply, &who(ids)))
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_create_names_the_node_made_its_mode_and_the_users() {
        let ids = [
            AuthId::new("ip", "127.0.0.1"),
            AuthId::new("digest", "alice:hash="),
            AuthId::new("super", ""),
        ];
        let request = Request::Create2(create_request("/q/item-", 3));
        let reply = WriteReply::Single(OpResult::Created {
            path: "/q/item-0000000007".into(),
            stat: None,
        });
        assert_eq!(
            lines(&request, &reply, &ids),
            [
                "session=0x1000a2b3c0001\tuser=127.0.0.1,alice\tip=127.0.0.1\toperation=create\t\
              znode=/q/item-0000000007\tznode_type=ephemeral_sequential\tresult=success"
            ]
        );
    }

    #[test]
    fn a_failed_change_names_the_path_asked_for() {
        let ids = [AuthId::new("ip", "10.0.0.5")];
        let request = Request::SetData(SetDataRequest {
            path: "/missing".into(),
            data: None,
            version: -1,
        });
        let reply = WriteReply::Single(OpResult::Failed(ErrorCode::NoNode));
        assert_eq!(
            lines(&request, &reply, &ids),
            [
                "session=0x1000a2b3c0001\tuser=10.0.0.5\tip=127.0.0.1\toperation=setData\t\
              znode=/missing\tresult=failure"
            ]
        );
    }

    #[test]
    fn set_acl_writes_the_acls_as_zookeeper_does() {
        let acl = |scheme: &str, id: &str, perms| Acl {
            perms,
            id: Id {
                scheme: Some(scheme.into()),
                id: Some(id.into()),
            },
        };
        let request = Request::SetAcl(SetAclRequest {
            path: "/a".into(),
            acl: vec![acl("world", "anyone", 1), acl("digest", "bob:x=", 31)],
            version: -1,
        });
        let reply = WriteReply::Single(OpResult::Stat(Default::default()));
        let line = &lines(&request, &reply, &[])[0];
        assert!(
            line.ends_with(
                "operation=setAcl\tznode=/a\tacl=world:anyone:rdigest:bob:x=:cdrwa\tresult=success"
            ),
            "{line}"
        );
        assert!(
            !line.contains("user="),
            "no identities, no user field: {line}"
        );
    }

    #[test]
    fn a_multi_logs_each_change_or_one_failure() {
        let request = Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create {
                    op: zk_proto::OpCode::Create,
                    req: create_request("/m", 0),
                },
                MultiOp::Create {
                    op: zk_proto::OpCode::Create,
                    req: create_request("/m/s-", 2),
                },
                MultiOp::Delete(DeleteRequest {
                    path: "/old".into(),
                    version: -1,
                }),
            ],
        });
        let ok = WriteReply::Multi(vec![
            OpResult::Created {
                path: "/m".into(),
                stat: None,
            },
            OpResult::Created {
                path: "/m/s-0000000000".into(),
                stat: None,
            },
            OpResult::Deleted,
        ]);
        let ids = [AuthId::new("ip", "127.0.0.1")];
        let logged = lines(&request, &ok, &ids);
        assert_eq!(logged.len(), 3);
        assert!(
            logged[0]
                .ends_with("operation=create\tznode=/m\tznode_type=persistent\tresult=success")
        );
        assert!(
            logged[1].ends_with("operation=create\tznode=/m/s-0000000000\tresult=success"),
            "a sequential create in a multi has no type, as in ZooKeeper: {}",
            logged[1]
        );
        assert!(logged[2].ends_with("operation=delete\tznode=/old\tresult=success"));
        let failed = WriteReply::Multi(vec![
            OpResult::Failed(ErrorCode::Ok),
            OpResult::Failed(ErrorCode::NodeExists),
            OpResult::Failed(ErrorCode::RuntimeInconsistency),
        ]);
        assert_eq!(
            lines(&request, &failed, &ids),
            [
                "session=0x1000a2b3c0001\tuser=127.0.0.1\tip=127.0.0.1\toperation=multiOperation\tresult=failure"
            ]
        );
    }

    #[test]
    fn reads_and_single_ttl_creates_are_not_audited() {
        let read = Request::GetData(zk_proto::records::GetDataRequest {
            path: "/a".into(),
            watch: false,
        });
        assert_eq!(Audited::of(&read), None);
        let ttl = Request::CreateTtl(zk_proto::records::CreateTtlRequest {
            path: "/t".into(),
            data: None,
            acl: Vec::new(),
            flags: 5,
            ttl: 100,
        });
        assert_eq!(Audited::of(&ttl), None);
    }

    #[test]
    fn server_lines_carry_the_system_user_and_no_address() {
        let line = server_event(
            "ephemeralZNodeDeletionOnSessionCloseOrExpire",
            Some(0xabc),
            Some("/e"),
            Outcome::Success,
        )
        .to_string();
        assert!(line.starts_with("session=0xabc\tuser="), "{line}");
        assert!(line.ends_with(
            "\toperation=ephemeralZNodeDeletionOnSessionCloseOrExpire\tznode=/e\tresult=success"
        ));
        assert!(
            server_event("serverStop", None, None, Outcome::Invoked)
                .to_string()
                .ends_with("operation=serverStop\tresult=invoked")
        );
    }
}
