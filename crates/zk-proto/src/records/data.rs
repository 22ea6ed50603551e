//! Data records (`org.apache.zookeeper.data`): identities, ACL entries, node stats.

use crate::jute::jute_record;

jute_record! {
    /// An identity: `scheme:id`, e.g. `world:anyone` or `digest:user:hash`. Both parts may be
    /// null on the wire (kazoo sends the empty id of an `auth` ACL as null).
    pub struct Id {
        pub scheme: Option<String>,
        pub id: Option<String>,
    }
}

impl Id {
    /// An id with both parts set.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: Some(scheme.into()),
            id: Some(id.into()),
        }
    }

    /// `world:anyone` (`ZooDefs.Ids.ANYONE_ID_UNSAFE`).
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }
}

jute_record! {
    /// One ACL entry: permission bits (see [`crate::consts::Perms`]) for an identity.
    pub struct Acl {
        pub perms: i32,
        pub id: Id,
    }
}

impl Acl {
    /// `OPEN_ACL_UNSAFE`: everyone may do everything.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: crate::consts::Perms::ALL,
            id: Id::anyone(),
        }]
    }
}

jute_record! {
    /// A node's metadata as clients see it: 68 bytes on the wire (spec §3.1, §8.3).
    #[derive(Default)]
    pub struct Stat {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        pub pzxid: i64,
    }
}

impl Stat {
    /// Encoded size of a Stat.
    pub const WIRE_SIZE: usize = 68;
}

jute_record! {
    /// One identity of a connection, as whoAmI reports it (3.7+).
    pub struct ClientInfo {
        pub auth_scheme: String,
        pub user: String,
    }
}
