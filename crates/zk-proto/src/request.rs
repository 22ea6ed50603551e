//! Typed client requests: the body that follows a [`RequestHeader`],
//! decoded according to the header's opcode (spec §6).

use bytes::BytesMut;

use crate::consts::OpCode;
use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Reader};
use crate::multi::MultiRequest;
use crate::records::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, GetSaslRequest, ReconfigRequest, RemoveWatchesRequest, RequestHeader,
    SetAclRequest, SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};

/// Every request body a client can send, one variant per opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    Sync(SyncRequest),
    /// Empty body.
    Ping,
    /// Valid only inside multi; servers answer it as they see fit (spec §6).
    Check(CheckVersionRequest),
    Multi(MultiRequest),
    MultiRead(MultiRequest),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    DeleteContainer(DeleteContainerRequest),
    Auth(AuthPacket),
    SetWatches(SetWatches),
    SetWatches2(SetWatches2),
    Sasl(GetSaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    /// Empty body.
    WhoAmI,
    /// Empty body.
    CloseSession,
}

impl Request {
    /// Typed decode of a request body given its header's opcode. Opcodes that are not client
    /// requests (notification, error, createSession) give [`DecodeError::UnknownOpCode`]; any
    /// other error means the body is malformed (MarshallingError). Bytes left over after the
    /// body are ignored, as the Java server does.
    pub fn decode(op: OpCode, body: &mut Reader) -> Result<Request, DecodeError> {
        Ok(match op {
            OpCode::Create => Request::Create(CreateRequest::decode(body)?),
            OpCode::Create2 => Request::Create2(CreateRequest::decode(body)?),
            OpCode::CreateContainer => Request::CreateContainer(CreateRequest::decode(body)?),
            OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(body)?),
            OpCode::Delete => Request::Delete(DeleteRequest::decode(body)?),
            OpCode::Exists => Request::Exists(ExistsRequest::decode(body)?),
            OpCode::GetData => Request::GetData(GetDataRequest::decode(body)?),
            OpCode::SetData => Request::SetData(SetDataRequest::decode(body)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(body)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(body)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(body)?),
            OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(body)?),
            OpCode::Sync => Request::Sync(SyncRequest::decode(body)?),
            OpCode::Ping => Request::Ping,
            OpCode::Check => Request::Check(CheckVersionRequest::decode(body)?),
            OpCode::Multi => Request::Multi(MultiRequest::decode(body)?),
            OpCode::MultiRead => Request::MultiRead(MultiRequest::decode(body)?),
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(body)?),
            OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(body)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(body)?),
            OpCode::DeleteContainer => {
                Request::DeleteContainer(DeleteContainerRequest::decode(body)?)
            }
            OpCode::Auth => Request::Auth(AuthPacket::decode(body)?),
            OpCode::SetWatches => Request::SetWatches(SetWatches::decode(body)?),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(body)?),
            OpCode::Sasl => Request::Sasl(GetSaslRequest::decode(body)?),
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(body)?),
            OpCode::GetAllChildrenNumber => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(body)?)
            }
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(body)?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(op.as_i32()));
            }
        })
    }

    /// The opcode to put in the request's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// The body as a record, or `None` for the requests with an empty body.
    fn body(&self) -> Option<&dyn Encode> {
        Some(match self {
            Request::Create(req) | Request::Create2(req) | Request::CreateContainer(req) => req,
            Request::CreateTtl(req) => req,
            Request::Delete(req) => req,
            Request::Exists(req) => req,
            Request::GetData(req) => req,
            Request::SetData(req) => req,
            Request::GetAcl(req) => req,
            Request::SetAcl(req) => req,
            Request::GetChildren(req) => req,
            Request::GetChildren2(req) => req,
            Request::Sync(req) => req,
            Request::Check(req) => req,
            Request::Multi(req) | Request::MultiRead(req) => req,
            Request::Reconfig(req) => req,
            Request::CheckWatches(req) => req,
            Request::RemoveWatches(req) => req,
            Request::DeleteContainer(req) => req,
            Request::Auth(req) => req,
            Request::SetWatches(req) => req,
            Request::SetWatches2(req) => req,
            Request::Sasl(req) => req,
            Request::GetEphemerals(req) => req,
            Request::GetAllChildrenNumber(req) => req,
            Request::AddWatch(req) => req,
            Request::Ping | Request::WhoAmI | Request::CloseSession => return None,
        })
    }
}

/// Appends a whole request frame (length, header with `xid`, body) to `out`, encoding in
/// place. Returns the payload length.
pub fn write_request_frame(out: &mut BytesMut, xid: i32, request: &Request) -> usize {
    crate::codec::write_frame(out, |buf| {
        RequestHeader {
            xid,
            op_code: request.op_code().as_i32(),
        }
        .encode(buf);
        request.encode(buf);
    })
}

/// Writes the body only (the header is a separate [`RequestHeader`]).
impl Encode for Request {
    fn encode(&self, buf: &mut BytesMut) {
        if let Some(body) = self.body() {
            body.encode(buf);
        }
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;

    use super::*;
    use crate::jute::arb::ArbField;

    impl ArbField for Request {
        fn arb() -> BoxedStrategy<Self> {
            prop_oneof![
                CreateRequest::arb().prop_map(Request::Create),
                CreateRequest::arb().prop_map(Request::Create2),
                CreateRequest::arb().prop_map(Request::CreateContainer),
                CreateTtlRequest::arb().prop_map(Request::CreateTtl),
                DeleteRequest::arb().prop_map(Request::Delete),
                ExistsRequest::arb().prop_map(Request::Exists),
                GetDataRequest::arb().prop_map(Request::GetData),
                SetDataRequest::arb().prop_map(Request::SetData),
                GetAclRequest::arb().prop_map(Request::GetAcl),
                SetAclRequest::arb().prop_map(Request::SetAcl),
                GetChildrenRequest::arb().prop_map(Request::GetChildren),
                GetChildren2Request::arb().prop_map(Request::GetChildren2),
                SyncRequest::arb().prop_map(Request::Sync),
                Just(Request::Ping),
                CheckVersionRequest::arb().prop_map(Request::Check),
                MultiRequest::arb().prop_map(Request::Multi),
                MultiRequest::arb().prop_map(Request::MultiRead),
                ReconfigRequest::arb().prop_map(Request::Reconfig),
                CheckWatchesRequest::arb().prop_map(Request::CheckWatches),
                RemoveWatchesRequest::arb().prop_map(Request::RemoveWatches),
                DeleteContainerRequest::arb().prop_map(Request::DeleteContainer),
                AuthPacket::arb().prop_map(Request::Auth),
                SetWatches::arb().prop_map(Request::SetWatches),
                SetWatches2::arb().prop_map(Request::SetWatches2),
                GetSaslRequest::arb().prop_map(Request::Sasl),
                GetEphemeralsRequest::arb().prop_map(Request::GetEphemerals),
                GetAllChildrenNumberRequest::arb().prop_map(Request::GetAllChildrenNumber),
                AddWatchRequest::arb().prop_map(Request::AddWatch),
                Just(Request::WhoAmI),
                Just(Request::CloseSession),
            ]
            .boxed()
        }
    }
}

#[cfg(test)]
mod tests;
