//! multi (14) and multiRead (22): a list of ops, each behind a [`MultiHeader`], ended by the
//! terminator header `{type -1, done true, err -1}` (spec §9).

use bytes::{Bytes, BytesMut};

use crate::consts::{CreateMode, OpCode};
use crate::error::DecodeError;
use crate::jute::{Decode, Encode, Field, Reader};
use crate::records::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse, Stat,
};

/// The header that ends a multi request or response.
pub const TERMINATOR: MultiHeader = MultiHeader {
    op_type: -1,
    done: true,
    err: -1,
};

/// The `err` clients put in the header of each op (ignored on input).
const OP_HEADER_ERR: i32 = -1;

/// Whether a multi reads or writes; one multi may not mix the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiKind {
    Read,
    Write,
}

/// One operation of a multi request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `op` is [`OpCode::Create`], [`OpCode::Create2`] or [`OpCode::CreateContainer`]: they
    /// share the body and differ in the node type and the result.
    Create {
        op: OpCode,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetData(GetDataRequest),
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The op's type in its header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    pub fn kind(&self) -> MultiKind {
        match self {
            MultiOp::GetData(_) | MultiOp::GetChildren(_) => MultiKind::Read,
            _ => MultiKind::Write,
        }
    }

    /// The path the op works on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::CreateTtl(req) => &req.path,
            MultiOp::Delete(req) => &req.path,
            MultiOp::SetData(req) => &req.path,
            MultiOp::Check(req) => &req.path,
            MultiOp::GetData(req) => &req.path,
            MultiOp::GetChildren(req) => &req.path,
        }
    }

    fn encode_body(&self, buf: &mut BytesMut) {
        match self {
            MultiOp::Create { req, .. } => req.encode(buf),
            MultiOp::CreateTtl(req) => req.encode(buf),
            MultiOp::Delete(req) => req.encode(buf),
            MultiOp::SetData(req) => req.encode(buf),
            MultiOp::Check(req) => req.encode(buf),
            MultiOp::GetData(req) => req.encode(buf),
            MultiOp::GetChildren(req) => req.encode(buf),
        }
    }

    /// Reads the body of an op whose header said `op_type`. Create flags are checked here,
    /// as the Java server does while parsing a multi (unlike a single create).
    fn decode_body(op_type: i32, r: &mut Reader) -> Result<Self, DecodeError> {
        let op = OpCode::try_from(op_type)?;
        Ok(match op {
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                let req = CreateRequest::decode(r)?;
                CreateMode::try_from(req.flags)?;
                MultiOp::Create { op, req }
            }
            OpCode::CreateTtl => {
                let req = CreateTtlRequest::decode(r)?;
                CreateMode::try_from(req.flags)?;
                MultiOp::CreateTtl(req)
            }
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            _ => return Err(DecodeError::UnknownOpCode(op_type)),
        })
    }
}

/// The body of multi (14) and multiRead (22).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// Read or write; `None` for an empty multi (which is valid).
    pub fn kind(&self) -> Option<MultiKind> {
        self.ops.first().map(MultiOp::kind)
    }
}

/// Reads headers until the terminator; `done` ends the list whatever the type, as in Java,
/// but a terminator with a type other than -1 is refused so that re-encoding is exact.
fn read_header(r: &mut Reader) -> Result<Option<MultiHeader>, DecodeError> {
    let header = MultiHeader::decode(r)?;
    if header.done {
        if header.op_type != TERMINATOR.op_type {
            return Err(DecodeError::BadMultiHeader);
        }
        return Ok(None);
    }
    Ok(Some(header))
}

impl Encode for MultiRequest {
    fn encode(&self, buf: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.op_code().as_i32(),
                done: false,
                err: OP_HEADER_ERR,
            }
            .encode(buf);
            op.encode_body(buf);
        }
        TERMINATOR.encode(buf);
    }
}

impl Decode for MultiRequest {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        let mut kind = None;
        while let Some(header) = read_header(r)? {
            let op = MultiOp::decode_body(header.op_type, r)?;
            match kind {
                None => kind = Some(op.kind()),
                Some(kind) if kind != op.kind() => return Err(DecodeError::MixedMulti),
                Some(_) => {}
            }
            ops.push(op);
        }
        Ok(Self { ops })
    }
}

/// The result of one op, spec §9.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// type 1 (also what ≤3.8 servers send for create2-like ops).
    Create { path: String },
    /// type 15: create2, createContainer, createTTL (3.9+).
    Create2 { path: String, stat: Stat },
    /// type 2.
    Delete,
    /// type 5.
    SetData { stat: Stat },
    /// type 13.
    Check,
    /// type 4 (multiRead).
    GetData { data: Option<Bytes>, stat: Stat },
    /// type 8 (multiRead).
    GetChildren { children: Vec<String> },
    /// type -1: the code is both in the header and in an ErrorResponse body.
    Error { err: i32 },
}

impl MultiResult {
    /// The type in the result's header.
    pub fn result_type(&self) -> i32 {
        match self {
            MultiResult::Create { .. } => OpCode::Create.as_i32(),
            MultiResult::Create2 { .. } => OpCode::Create2.as_i32(),
            MultiResult::Delete => OpCode::Delete.as_i32(),
            MultiResult::SetData { .. } => OpCode::SetData.as_i32(),
            MultiResult::Check => OpCode::Check.as_i32(),
            MultiResult::GetData { .. } => OpCode::GetData.as_i32(),
            MultiResult::GetChildren { .. } => OpCode::GetChildren.as_i32(),
            MultiResult::Error { .. } => OpCode::Error.as_i32(),
        }
    }

    /// The `err` in the result's header: the code for errors, 0 otherwise.
    pub fn header_err(&self) -> i32 {
        match self {
            MultiResult::Error { err } => *err,
            _ => 0,
        }
    }

    fn encode_body(&self, buf: &mut BytesMut) {
        match self {
            MultiResult::Create { path } => path.write_field(buf),
            MultiResult::Create2 { path, stat } => {
                path.write_field(buf);
                stat.encode(buf);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => stat.encode(buf),
            MultiResult::GetData { data, stat } => {
                data.write_field(buf);
                stat.encode(buf);
            }
            MultiResult::GetChildren { children } => children.write_field(buf),
            MultiResult::Error { err } => ErrorResponse { err: *err }.encode(buf),
        }
    }

    /// Reads a result body; the header's `err` must agree with it (0, or the error's code).
    fn decode_body(header: &MultiHeader, r: &mut Reader) -> Result<Self, DecodeError> {
        let result = if header.op_type == OpCode::Error.as_i32() {
            MultiResult::Error {
                err: ErrorResponse::decode(r)?.err,
            }
        } else {
            match OpCode::try_from(header.op_type)? {
                OpCode::Create => MultiResult::Create {
                    path: CreateResponse::decode(r)?.path,
                },
                OpCode::Create2 => {
                    let Create2Response { path, stat } = Create2Response::decode(r)?;
                    MultiResult::Create2 { path, stat }
                }
                OpCode::Delete => MultiResult::Delete,
                OpCode::SetData => MultiResult::SetData {
                    stat: SetDataResponse::decode(r)?.stat,
                },
                OpCode::Check => MultiResult::Check,
                OpCode::GetData => {
                    let GetDataResponse { data, stat } = GetDataResponse::decode(r)?;
                    MultiResult::GetData { data, stat }
                }
                OpCode::GetChildren => MultiResult::GetChildren {
                    children: GetChildrenResponse::decode(r)?.children,
                },
                _ => return Err(DecodeError::UnknownOpCode(header.op_type)),
            }
        };
        if result.header_err() != header.err {
            return Err(DecodeError::BadMultiHeader);
        }
        Ok(result)
    }
}

/// The body of a multi/multiRead reply (the ReplyHeader's err is 0 even when an op failed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl Encode for MultiResponse {
    fn encode(&self, buf: &mut BytesMut) {
        for result in &self.results {
            MultiHeader {
                op_type: result.result_type(),
                done: false,
                err: result.header_err(),
            }
            .encode(buf);
            result.encode_body(buf);
        }
        TERMINATOR.encode(buf);
    }
}

impl Decode for MultiResponse {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        while let Some(header) = read_header(r)? {
            results.push(MultiResult::decode_body(&header, r)?);
        }
        Ok(Self { results })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;

    use super::*;
    use crate::jute::arb::ArbField;

    fn create_request() -> BoxedStrategy<CreateRequest> {
        (CreateRequest::arb(), 0..=6i32)
            .prop_map(|(req, flags)| CreateRequest { flags, ..req })
            .boxed()
    }

    pub fn write_op() -> BoxedStrategy<MultiOp> {
        let create_op = prop_oneof![
            Just(OpCode::Create),
            Just(OpCode::Create2),
            Just(OpCode::CreateContainer)
        ];
        prop_oneof![
            (create_op, create_request()).prop_map(|(op, req)| MultiOp::Create { op, req }),
            (CreateTtlRequest::arb(), 0..=6i32)
                .prop_map(|(req, flags)| MultiOp::CreateTtl(CreateTtlRequest { flags, ..req })),
            DeleteRequest::arb().prop_map(MultiOp::Delete),
            SetDataRequest::arb().prop_map(MultiOp::SetData),
            CheckVersionRequest::arb().prop_map(MultiOp::Check),
        ]
        .boxed()
    }

    pub fn read_op() -> BoxedStrategy<MultiOp> {
        prop_oneof![
            GetDataRequest::arb().prop_map(MultiOp::GetData),
            GetChildrenRequest::arb().prop_map(MultiOp::GetChildren),
        ]
        .boxed()
    }

    impl ArbField for MultiRequest {
        fn arb() -> BoxedStrategy<Self> {
            prop_oneof![
                proptest::collection::vec(write_op(), 0..5),
                proptest::collection::vec(read_op(), 0..5),
            ]
            .prop_map(|ops| MultiRequest { ops })
            .boxed()
        }
    }

    fn result() -> BoxedStrategy<MultiResult> {
        prop_oneof![
            String::arb().prop_map(|path| MultiResult::Create { path }),
            (String::arb(), Stat::arb())
                .prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
            Just(MultiResult::Delete),
            Stat::arb().prop_map(|stat| MultiResult::SetData { stat }),
            Just(MultiResult::Check),
            (Option::<Bytes>::arb(), Stat::arb())
                .prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
            Vec::<String>::arb().prop_map(|children| MultiResult::GetChildren { children }),
            any::<i32>().prop_map(|err| MultiResult::Error { err }),
        ]
        .boxed()
    }

    impl ArbField for MultiResponse {
        fn arb() -> BoxedStrategy<Self> {
            proptest::collection::vec(result(), 0..5)
                .prop_map(|results| MultiResponse { results })
                .boxed()
        }
    }
}

#[cfg(test)]
mod tests;
