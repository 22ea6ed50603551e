//! ACLs and authentication: identities, the permission check, digest ids, and the "fixup" that
//! create and setACL run on a requested ACL list (client-protocol §12).

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use zk_proto::{Acl, Id};

pub use zk_proto::Perms;

/// One identity a connection holds (`ip:127.0.0.1`, `digest:user:hash`, `super:`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthId {
    pub scheme: String,
    pub id: String,
}

impl AuthId {
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// Identities that `auth` ACL entries expand to: ip and super are never "authenticated".
    fn is_authenticated(&self) -> bool {
        matches!(self.scheme.as_str(), "digest" | "sasl" | "x509")
    }
}

/// The scheme of an ACL entry, with a null scheme read as "" (kazoo sends "" as null).
pub fn scheme_of(acl: &Acl) -> &str {
    acl.id.scheme.as_deref().unwrap_or("")
}

/// The id of an ACL entry, with a null id read as "".
pub fn id_of(acl: &Acl) -> &str {
    acl.id.id.as_deref().unwrap_or("")
}

/// Builds an ACL entry.
pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: Some(scheme.to_owned()),
            id: Some(id.to_owned()),
        },
    }
}

/// `world:anyone` with every permission: ZooKeeper's OPEN_ACL_UNSAFE.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![acl(Perms::ALL, "world", "anyone")]
}

/// ZooKeeper's digest id for `user:password`: `user:base64(sha1("user:password"))`.
pub fn digest_id(credentials: &str) -> String {
    let user = credentials.split(':').next().unwrap_or("");
    let hash = Sha1::digest(credentials.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Settings that change how permissions are checked.
#[derive(Debug, Clone, Default)]
pub struct AclPolicy {
    /// `zookeeper.skipACL=yes`: every check passes.
    pub skip_acl: bool,
    /// `DigestAuthenticationProvider.superDigest` (`super:<base64>`): that digest id is also super.
    pub super_digest: Option<String>,
    /// The `sasl` scheme is known (a SASL provider is configured).
    pub sasl: bool,
    /// The `x509` scheme is known (there is a TLS client port, as ZooKeeper registers it then).
    pub x509: bool,
    /// `DigestAuthenticationProvider.enabled=false` makes the `digest` scheme unknown.
    pub digest_disabled: bool,
}

impl AclPolicy {
    /// The identities that `auth digest user:password` adds to a connection.
    pub fn digest_identities(&self, credentials: &str) -> Vec<AuthId> {
        let id = digest_id(credentials);
        let is_super = self.super_digest.as_deref() == Some(id.as_str());
        let mut ids = vec![AuthId::new("digest", id)];
        if is_super {
            ids.push(AuthId::new("super", ""));
        }
        ids
    }

    /// True if a connection holding `ids` may do `wanted` on a node with `acl`.
    pub fn allows(&self, acl: &[Acl], wanted: i32, ids: &[AuthId]) -> bool {
        if self.skip_acl || acl.is_empty() || ids.iter().any(|id| id.scheme == "super") {
            return true;
        }
        acl.iter()
            .filter(|entry| entry.perms & wanted != 0)
            .any(|entry| {
                let (scheme, id) = (scheme_of(entry), id_of(entry));
                if scheme == "world" && id == "anyone" {
                    return true;
                }
                if scheme == "digest" && self.digest_disabled {
                    return false;
                }
                ids.iter()
                    .filter(|have| have.scheme == scheme)
                    .any(|have| id_matches(scheme, id, &have.id))
            })
    }
}

/// Does an identity of `scheme` with value `have` satisfy the ACL id `want`?
fn id_matches(scheme: &str, want: &str, have: &str) -> bool {
    match scheme {
        "ip" => ip_matches(want, have),
        "sasl" => crate::sasl::acl_id_matches(have, want),
        _ => want == have,
    }
}

/// CIDR match of a client address against `addr` or `addr/bits`; address families must agree.
fn ip_matches(want: &str, have: &str) -> bool {
    let Some((net, bits)) = parse_ip_acl(want) else {
        return false;
    };
    let Ok(addr) = have.parse::<IpAddr>() else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(net), IpAddr::V4(addr)) => prefix_eq(&net.octets(), &addr.octets(), bits),
        (IpAddr::V6(net), IpAddr::V6(addr)) => prefix_eq(&net.octets(), &addr.octets(), bits),
        _ => false,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let mut remaining = bits;
    for (x, y) in a.iter().zip(b) {
        if remaining == 0 {
            return true;
        }
        let take = remaining.min(8);
        let mask = (0xffu16 << (8 - take)) as u8;
        if x & mask != y & mask {
            return false;
        }
        remaining -= take;
    }
    true
}

/// Parses an `ip` ACL id: an address with an optional `/bits` (0-32 or 0-128).
fn parse_ip_acl(id: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (id, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(bits) => bits.parse::<u32>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((addr, bits))
}

/// Java's `String.split(":")`, which drops trailing empty strings, must give two parts.
fn is_valid_digest_id(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// Checks and expands a requested ACL list the way ZooKeeper's `fixupACL` does. `None` means
/// InvalidACL. A list that names no `auth` entry and no entry twice comes back as it was asked
/// for, without a copy: that is nearly every create.
pub fn fixup<'a>(
    requested: &'a [Acl],
    ids: &[AuthId],
    policy: &AclPolicy,
) -> Option<Cow<'a, [Acl]>> {
    let expands = |entry: &Acl| entry.id.scheme.as_deref() == Some("auth");
    let repeated = requested
        .iter()
        .enumerate()
        .any(|(at, entry)| requested[..at].contains(entry));
    if !requested.iter().any(expands) && !repeated {
        let valid = !requested.is_empty() && requested.iter().all(|e| is_valid_as_is(e, policy));
        return valid.then_some(Cow::Borrowed(requested));
    }
    let mut unique: Vec<&Acl> = Vec::with_capacity(requested.len());
    for entry in requested {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        if expands(entry) {
            // A null id is harmless for `auth`: it stands for the connection's identities.
            expand_auth(entry.perms, ids, &mut fixed)?;
        } else if is_valid_as_is(entry, policy) {
            fixed.push(entry.clone());
        } else {
            return None;
        }
    }
    Some(Cow::Owned(fixed))
}

/// Whether an entry other than `auth` is valid: a known scheme with a well-formed id.
fn is_valid_as_is(entry: &Acl, policy: &AclPolicy) -> bool {
    let (Some(scheme), Some(_)) = (&entry.id.scheme, &entry.id.id) else {
        return false;
    };
    let id = id_of(entry);
    match scheme.as_str() {
        "world" => id == "anyone",
        "digest" => !policy.digest_disabled && is_valid_digest_id(id),
        "ip" => parse_ip_acl(id).is_some(),
        "sasl" => policy.sasl && crate::sasl::is_valid_acl_id(id),
        "x509" => policy.x509 && crate::x509::is_valid_name(id),
        _ => false,
    }
}

/// `auth` stands for every authenticated identity of the connection; with none it is invalid.
fn expand_auth(perms: i32, ids: &[AuthId], out: &mut Vec<Acl>) -> Option<()> {
    let before = out.len();
    for id in ids.iter().filter(|id| id.is_authenticated()) {
        out.push(acl(perms, &id.scheme, &id.id));
    }
    (out.len() > before).then_some(())
}

/// What getACL shows a caller without ADMIN: digest ids masked as `user:x`.
pub fn masked_for_reader(acl_list: &[Acl]) -> Vec<Acl> {
    acl_list
        .iter()
        .map(|entry| {
            if scheme_of(entry) != "digest" {
                return entry.clone();
            }
            let user = id_of(entry).split(':').next().unwrap_or("");
            acl(entry.perms, "digest", &format!("{user}:x"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_vectors_from_the_spec() {
        assert_eq!(
            digest_id("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        assert_eq!(
            digest_id("super:admin"),
            "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="
        );
        assert_eq!(digest_id("bob:secret"), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
    }

    #[test]
    fn super_digest_adds_super() {
        let policy = AclPolicy {
            super_digest: Some("super:xQJmxLMiHGwaqBvst5y6rkB6HQs=".into()),
            ..AclPolicy::default()
        };
        let ids = policy.digest_identities("super:admin");
        assert!(ids.contains(&AuthId::new("super", "")));
        let locked = vec![acl(Perms::READ, "digest", "bob:xyz")];
        assert!(policy.allows(&locked, Perms::ADMIN, &ids));
        assert!(!policy.allows(&locked, Perms::ADMIN, &policy.digest_identities("bob:no")));
    }

    #[test]
    fn permission_checks() {
        let policy = AclPolicy::default();
        let ip = vec![AuthId::new("ip", "127.0.0.1")];
        let bob = vec![
            AuthId::new("ip", "127.0.0.1"),
            AuthId::new("digest", digest_id("bob:secret")),
        ];
        let read_only = vec![acl(Perms::READ, "world", "anyone")];
        assert!(policy.allows(&read_only, Perms::READ, &ip));
        assert!(!policy.allows(&read_only, Perms::WRITE, &ip));
        let bobs = vec![acl(Perms::ALL, "digest", &digest_id("bob:secret"))];
        assert!(policy.allows(&bobs, Perms::WRITE, &bob));
        assert!(!policy.allows(&bobs, Perms::WRITE, &ip));
        assert!(
            policy.allows(&[], Perms::WRITE, &ip),
            "an empty ACL allows all"
        );
        let local = vec![acl(Perms::ALL, "ip", "127.0.0.0/8")];
        assert!(policy.allows(&local, Perms::READ, &ip));
        assert!(!policy.allows(&local, Perms::READ, &[AuthId::new("ip", "10.0.0.1")]));
        assert!(!policy.allows(&local, Perms::READ, &[AuthId::new("ip", "::1")]));
        let skip = AclPolicy {
            skip_acl: true,
            ..AclPolicy::default()
        };
        assert!(skip.allows(&bobs, Perms::WRITE, &ip));
    }

    #[test]
    fn fixup_follows_zookeeper() {
        let p = AclPolicy::default();
        let ip_only = vec![AuthId::new("ip", "127.0.0.1")];
        let with_digest = vec![
            AuthId::new("ip", "127.0.0.1"),
            AuthId::new("digest", "bob:hash"),
        ];
        let open = open_acl_unsafe();
        assert_eq!(fixup(&open, &ip_only, &p).as_deref(), Some(&open[..]));
        assert_eq!(fixup(&[], &ip_only, &p), None);
        assert_eq!(fixup(&[acl(31, "world", "bob")], &ip_only, &p), None);
        let creator = Acl {
            perms: 31,
            id: Id {
                scheme: Some("auth".into()),
                id: None,
            },
        };
        assert_eq!(fixup(std::slice::from_ref(&creator), &ip_only, &p), None);
        assert_eq!(
            fixup(&[creator], &with_digest, &p).as_deref(),
            Some(&[acl(31, "digest", "bob:hash")][..])
        );
        for ok in ["a:b", ":b", "a:b:"] {
            assert!(
                fixup(&[acl(1, "digest", ok)], &ip_only, &p).is_some(),
                "{ok}"
            );
        }
        for bad in ["a:b:c", "a:", "a", ""] {
            assert!(
                fixup(&[acl(1, "digest", bad)], &ip_only, &p).is_none(),
                "{bad}"
            );
        }
        // x509 ids are names, known only where a TLS port registers the scheme.
        let tls = AclPolicy {
            x509: true,
            ..AclPolicy::default()
        };
        let by_certificate = [acl(31, "x509", "CN=client,O=Example")];
        assert!(fixup(&by_certificate, &ip_only, &p).is_none());
        assert!(fixup(&by_certificate, &ip_only, &tls).is_some());
        assert!(fixup(&[acl(31, "x509", "client")], &ip_only, &tls).is_none());
        let with_certificate = vec![
            AuthId::new("ip", "127.0.0.1"),
            AuthId::new("x509", "CN=client"),
        ];
        let creator_only = [Acl {
            perms: 31,
            id: Id {
                scheme: Some("auth".into()),
                id: None,
            },
        }];
        assert_eq!(
            fixup(&creator_only, &with_certificate, &tls).as_deref(),
            Some(&[acl(31, "x509", "CN=client")][..])
        );
        let no_digest = AclPolicy {
            digest_disabled: true,
            ..AclPolicy::default()
        };
        assert!(fixup(&[acl(1, "digest", "a:b")], &ip_only, &no_digest).is_none());
        assert!(!no_digest.allows(&[acl(31, "digest", "bob:hash")], 1, &with_digest));
        assert!(p.allows(&[acl(31, "digest", "bob:hash")], 1, &with_digest));
        assert!(fixup(&[acl(1, "ip", "10.0.0.0/8")], &ip_only, &p).is_some());
        assert!(fixup(&[acl(1, "ip", "10.0.0.0/33")], &ip_only, &p).is_none());
        assert!(fixup(&[acl(1, "nosuch", "x")], &ip_only, &p).is_none());
        let dup = vec![acl(1, "world", "anyone"), acl(1, "world", "anyone")];
        assert_eq!(fixup(&dup, &ip_only, &p).map(|v| v.len()), Some(1));
    }

    #[test]
    fn masks_digest_ids() {
        let list = vec![
            acl(31, "digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            acl(1, "world", "anyone"),
        ];
        let masked = masked_for_reader(&list);
        assert_eq!(id_of(&masked[0]), "user:x");
        assert_eq!(masked[1], list[1]);
    }
}
