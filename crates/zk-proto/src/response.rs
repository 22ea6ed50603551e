//! What the server sends after the handshake: a [`ReplyHeader`] and, depending on the
//! request's opcode and the error code, a body (spec §5, §6).

use bytes::BytesMut;

use crate::codec::write_frame;
use crate::consts::{NOTIFICATION_XID, OpCode};
use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Reader};
use crate::multi::MultiResponse;
use crate::records::{
    Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, ReplyHeader, SetAclResponse, SetDataResponse, SetSaslResponse,
    SyncResponse, WatcherEvent, WhoAmIResponse,
};

/// Every reply body, typed. `Empty` is a header-only reply (errors, and ops without a
/// response record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Empty,
    Create(CreateResponse),
    /// create2, createContainer and createTTL.
    Create2(Create2Response),
    Exists(ExistsResponse),
    /// getData, and reconfig (new config + Stat of /zookeeper/config).
    GetData(GetDataResponse),
    SetData(SetDataResponse),
    GetAcl(GetAclResponse),
    SetAcl(SetAclResponse),
    GetChildren(GetChildrenResponse),
    GetChildren2(GetChildren2Response),
    Sync(SyncResponse),
    /// multi and multiRead.
    Multi(MultiResponse),
    Sasl(SetSaslResponse),
    GetEphemerals(GetEphemeralsResponse),
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// addWatch answers `ErrorResponse{0}`.
    AddWatch(ErrorResponse),
    WhoAmI(WhoAmIResponse),
    /// A watch event (xid -1).
    Notification(WatcherEvent),
}

impl Response {
    /// Decodes the body that follows `header`, for a reply to a request with opcode `op`.
    /// Notifications (xid -1) are recognised by the header whatever `op` is. A non-zero `err`
    /// means no body, except for sasl, whose failures still carry a (null) token.
    pub fn decode(op: OpCode, header: &ReplyHeader, r: &mut Reader) -> Result<Self, DecodeError> {
        if header.xid == NOTIFICATION_XID {
            return Ok(Response::Notification(WatcherEvent::decode(r)?));
        }
        if header.err != 0 {
            return Ok(if op == OpCode::Sasl && !r.is_empty() {
                Response::Sasl(SetSaslResponse::decode(r)?)
            } else {
                Response::Empty
            });
        }
        Ok(match op {
            OpCode::Create => Response::Create(CreateResponse::decode(r)?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(Create2Response::decode(r)?)
            }
            OpCode::Exists => Response::Exists(ExistsResponse::decode(r)?),
            OpCode::GetData | OpCode::Reconfig => Response::GetData(GetDataResponse::decode(r)?),
            OpCode::SetData => Response::SetData(SetDataResponse::decode(r)?),
            OpCode::GetAcl => Response::GetAcl(GetAclResponse::decode(r)?),
            OpCode::SetAcl => Response::SetAcl(SetAclResponse::decode(r)?),
            OpCode::GetChildren => Response::GetChildren(GetChildrenResponse::decode(r)?),
            OpCode::GetChildren2 => Response::GetChildren2(GetChildren2Response::decode(r)?),
            OpCode::Sync => Response::Sync(SyncResponse::decode(r)?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(MultiResponse::decode(r)?),
            OpCode::GetEphemerals => Response::GetEphemerals(GetEphemeralsResponse::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Response::GetAllChildrenNumber(GetAllChildrenNumberResponse::decode(r)?)
            }
            OpCode::AddWatch => Response::AddWatch(ErrorResponse::decode(r)?),
            OpCode::WhoAmI => Response::WhoAmI(WhoAmIResponse::decode(r)?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::DeleteContainer
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CloseSession => Response::Empty,
            OpCode::Sasl => Response::Sasl(SetSaslResponse::decode(r)?),
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(op.as_i32()));
            }
        })
    }

    /// The body as a record, or `None` for a header-only reply.
    pub fn body(&self) -> Option<&dyn Encode> {
        Some(match self {
            Response::Empty => return None,
            Response::Create(body) => body,
            Response::Create2(body) => body,
            Response::Exists(body) => body,
            Response::GetData(body) => body,
            Response::SetData(body) => body,
            Response::GetAcl(body) => body,
            Response::SetAcl(body) => body,
            Response::GetChildren(body) => body,
            Response::GetChildren2(body) => body,
            Response::Sync(body) => body,
            Response::Multi(body) => body,
            Response::Sasl(body) => body,
            Response::GetEphemerals(body) => body,
            Response::GetAllChildrenNumber(body) => body,
            Response::AddWatch(body) => body,
            Response::WhoAmI(body) => body,
            Response::Notification(body) => body,
        })
    }
}

/// Writes the body only.
impl Encode for Response {
    fn encode(&self, buf: &mut BytesMut) {
        if let Some(body) = self.body() {
            body.encode(buf);
        }
    }
}

/// Writes a reply payload (header, then the body if any), without the frame length.
pub fn encode_reply(buf: &mut BytesMut, header: &ReplyHeader, body: Option<&dyn Encode>) {
    header.encode(buf);
    if let Some(body) = body {
        body.encode(buf);
    }
}

/// Appends a whole reply frame (length, header, body) to `out`, encoding in place.
/// Returns the payload length.
pub fn write_reply_frame(
    out: &mut BytesMut,
    header: &ReplyHeader,
    body: Option<&dyn Encode>,
) -> usize {
    write_frame(out, |buf| encode_reply(buf, header, body))
}

#[cfg(test)]
mod tests;
