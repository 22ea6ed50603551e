//! Every jute record of the client protocol, named as in ZooKeeper's jute files with
//! snake_case fields, each with `Encode` and `Decode`.
//!
//! Nullability follows what clients really send, so that captured frames re-encode to the
//! same bytes: buffers and strings that may be null are `Option`, request paths are `String`
//! (a null path is [`crate::DecodeError::NullNotAllowed`]), and vectors read null as empty.

mod data;
mod delete_container;
mod node;
mod session;

pub use data::{Acl, ClientInfo, Id, Stat};
pub use delete_container::{DeleteContainerLayout, DeleteContainerRequest};
pub use node::{
    AddWatchRequest, CheckVersionRequest, CheckWatchesRequest, Create2Response, CreateRequest,
    CreateResponse, CreateTtlRequest, DeleteRequest, ExistsRequest, ExistsResponse, GetAclRequest,
    GetAclResponse, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse,
    GetEphemeralsRequest, GetEphemeralsResponse, ReconfigRequest, RemoveWatchesRequest,
    SetAclRequest, SetAclResponse, SetDataRequest, SetDataResponse, SyncRequest, SyncResponse,
};
pub use session::{
    AuthPacket, ConnectRequest, ConnectResponse, ErrorResponse, GetSaslRequest, MultiHeader,
    ReplyHeader, RequestHeader, SetSaslResponse, SetWatches, SetWatches2, WatcherEvent,
    WhoAmIResponse,
};

#[cfg(test)]
mod tests;
