//! Bodies of the node operations (create, delete, reads, writes, watches, ...), spec §3.2.

use bytes::Bytes;

use super::{Acl, Stat};
use crate::consts::{AddWatchMode, CreateMode, WatcherType};
use crate::error::DecodeError;
use crate::jute::jute_record;

jute_record! {
    /// create (1), create2 (15) and createContainer (19). `flags` is a [`CreateMode`] number.
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub flags: i32,
    }
}

impl CreateRequest {
    /// The flags as a mode; out-of-range flags are a BadArguments case for single creates.
    pub fn create_mode(&self) -> Result<CreateMode, DecodeError> {
        CreateMode::try_from(self.flags)
    }
}

jute_record! {
    /// createTTL (21).
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        pub ttl: i64,
    }
}

impl CreateTtlRequest {
    pub fn create_mode(&self) -> Result<CreateMode, DecodeError> {
        CreateMode::try_from(self.flags)
    }
}

jute_record! {
    /// Reply of create (1): the actual path (with the sequential suffix).
    pub struct CreateResponse {
        pub path: String,
    }
}

jute_record! {
    /// Reply of create2, createContainer and createTTL.
    pub struct Create2Response {
        pub path: String,
        pub stat: Stat,
    }
}

jute_record! {
    /// delete (2). `version` -1 matches any version.
    pub struct DeleteRequest {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    /// exists (3).
    pub struct ExistsRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct ExistsResponse {
        pub stat: Stat,
    }
}

jute_record! {
    /// getData (4).
    pub struct GetDataRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    /// Reply of getData (and reconfig). `data` is null when the node holds null.
    pub struct GetDataResponse {
        pub data: Option<Bytes>,
        pub stat: Stat,
    }
}

jute_record! {
    /// setData (5).
    pub struct SetDataRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }
}

jute_record! {
    pub struct SetDataResponse {
        pub stat: Stat,
    }
}

jute_record! {
    /// getACL (6).
    pub struct GetAclRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct GetAclResponse {
        pub acl: Vec<Acl>,
        pub stat: Stat,
    }
}

jute_record! {
    /// setACL (7). `version` is compared with the ACL version.
    pub struct SetAclRequest {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }
}

jute_record! {
    pub struct SetAclResponse {
        pub stat: Stat,
    }
}

jute_record! {
    /// getChildren (8).
    pub struct GetChildrenRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct GetChildrenResponse {
        pub children: Vec<String>,
    }
}

jute_record! {
    /// getChildren2 (12).
    pub struct GetChildren2Request {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct GetChildren2Response {
        pub children: Vec<String>,
        pub stat: Stat,
    }
}

jute_record! {
    /// getAllChildrenNumber (104).
    pub struct GetAllChildrenNumberRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct GetAllChildrenNumberResponse {
        pub total_number: i32,
    }
}

jute_record! {
    /// check (13), inside multi.
    pub struct CheckVersionRequest {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    /// sync (9).
    pub struct SyncRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct SyncResponse {
        pub path: String,
    }
}

jute_record! {
    /// reconfig (16). The server lists are null when not given.
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

jute_record! {
    /// addWatch (106). `mode` is an [`AddWatchMode`] number.
    pub struct AddWatchRequest {
        pub path: String,
        pub mode: i32,
    }
}

impl AddWatchRequest {
    pub fn add_watch_mode(&self) -> Result<AddWatchMode, DecodeError> {
        AddWatchMode::try_from(self.mode)
    }
}

jute_record! {
    /// checkWatches (17). `watcher_type` is a [`WatcherType`] number.
    pub struct CheckWatchesRequest {
        pub path: String,
        pub watcher_type: i32,
    }
}

impl CheckWatchesRequest {
    pub fn watcher_kind(&self) -> Result<WatcherType, DecodeError> {
        WatcherType::try_from(self.watcher_type)
    }
}

jute_record! {
    /// removeWatches (18). `watcher_type` is a [`WatcherType`] number.
    pub struct RemoveWatchesRequest {
        pub path: String,
        pub watcher_type: i32,
    }
}

impl RemoveWatchesRequest {
    pub fn watcher_kind(&self) -> Result<WatcherType, DecodeError> {
        WatcherType::try_from(self.watcher_type)
    }
}

jute_record! {
    /// getEphemerals (103). A null or blank prefix means all of the session's ephemerals.
    pub struct GetEphemeralsRequest {
        pub prefix_path: Option<String>,
    }
}

jute_record! {
    pub struct GetEphemeralsResponse {
        pub ephemerals: Vec<String>,
    }
}
