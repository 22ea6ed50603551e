//! A minimal ZooKeeper client session for the load generator: one TCP connection, requests
//! queued into one output buffer (so that a pipeline of K requests costs one write), replies
//! read frame by frame. Built on zk-proto only, so that both servers see exactly the same
//! bytes.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::FramedRead;
use zk_proto::codec::write_frame;
use zk_proto::request::write_request_frame;
use zk_proto::{
    ConnectRequest, ConnectResponse, Decode, Encode, ErrorCode, FrameCodec, NOTIFICATION_XID,
    OpCode, Reader, ReplyHeader, Request, Response,
};

/// The session timeout the load generator asks for; servers clamp it to 20 ticks.
const SESSION_TIMEOUT_MS: i32 = 30_000;

/// What a client needs to take its session to another server ([`Session::resume`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub session_id: i64,
    pub passwd: Bytes,
}

/// The server answered a handshake with a zero timeout: the session it was asked to resume
/// has expired (or it would not open a new one). A client starts a new session then.
#[derive(Debug, thiserror::Error)]
#[error("{addr} refused the session (expired or unknown)")]
pub struct SessionRefused {
    pub addr: SocketAddr,
}

/// One reply: its header and the undecoded body (the hot path never decodes bodies).
#[derive(Debug)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: Bytes,
}

/// A request frame encoded once; only the xid changes between sends, so the load generator
/// spends its CPU on the socket, not on encoding.
#[derive(Debug, Clone)]
pub struct FrameTemplate {
    frame: Bytes,
}

/// Where the xid sits in a request frame: after the 4-byte length.
const XID_OFFSET: usize = 4;

impl FrameTemplate {
    pub fn new(request: &Request) -> Self {
        let mut frame = BytesMut::new();
        write_request_frame(&mut frame, 0, request);
        Self {
            frame: frame.freeze(),
        }
    }

    /// Appends the frame with `xid` patched in.
    fn write(&self, out: &mut BytesMut, xid: i32) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        if let Some(slot) = out.get_mut(start + XID_OFFSET..start + XID_OFFSET + 4) {
            slot.copy_from_slice(&xid.to_be_bytes());
        }
    }
}

/// A connected session.
#[derive(Debug)]
pub struct Session {
    reader: FramedRead<OwnedReadHalf, FrameCodec>,
    writer: OwnedWriteHalf,
    out: BytesMut,
    last_xid: i32,
    server: SocketAddr,
    credentials: Credentials,
    /// The highest zxid any reply carried: a server that has not seen it must not take the
    /// session over.
    last_zxid_seen: i64,
    /// As negotiated with the server.
    timeout: Duration,
}

impl Session {
    /// Connects and performs the handshake (a new session, read/write).
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        Self::handshake(addr, None, 0).await
    }

    /// Connects to `addr` and takes over the session of `credentials`, as a client does when
    /// its server goes away. Fails with [`SessionRefused`] once the session has expired.
    pub async fn resume(
        addr: SocketAddr,
        credentials: &Credentials,
        last_zxid_seen: i64,
    ) -> anyhow::Result<Self> {
        Self::handshake(addr, Some(credentials), last_zxid_seen).await
    }

    async fn handshake(
        addr: SocketAddr,
        credentials: Option<&Credentials>,
        last_zxid_seen: i64,
    ) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (read_half, write_half) = stream.into_split();
        let mut session = Session {
            reader: FramedRead::new(read_half, FrameCodec::default()),
            writer: write_half,
            out: BytesMut::with_capacity(4096),
            last_xid: 0,
            server: addr,
            credentials: Credentials {
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
            },
            last_zxid_seen,
            timeout: Duration::ZERO,
        };
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout: SESSION_TIMEOUT_MS,
            session_id: credentials.map_or(0, |c| c.session_id),
            passwd: credentials.map_or_else(|| Bytes::from_static(&[0; 16]), |c| c.passwd.clone()),
            read_only: Some(false),
        };
        write_frame(&mut session.out, |buf| connect.encode(buf));
        session.flush().await?;
        let payload = session.next_frame().await?;
        let response = ConnectResponse::decode(&mut Reader::new(payload))
            .context("malformed ConnectResponse")?;
        if response.timeout <= 0 {
            return Err(SessionRefused { addr }.into());
        }
        if response.session_id == 0 {
            bail!("{addr} answered the handshake with session id 0");
        }
        session.credentials = Credentials {
            session_id: response.session_id,
            passwd: response.passwd,
        };
        session.timeout = Duration::from_millis(u64::try_from(response.timeout).unwrap_or(0));
        Ok(session)
    }

    /// The server this session is connected to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The id and password that resume this session elsewhere.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The highest zxid seen in a reply (or given to [`Session::resume`]).
    pub fn last_zxid_seen(&self) -> i64 {
        self.last_zxid_seen
    }

    /// The session timeout the server granted.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn next_xid(&mut self) -> i32 {
        self.last_xid = self.last_xid.checked_add(1).unwrap_or(1);
        self.last_xid
    }

    /// Queues a pre-encoded request; returns its xid. Nothing is sent before [`Self::flush`].
    pub fn queue_template(&mut self, template: &FrameTemplate) -> i32 {
        let xid = self.next_xid();
        template.write(&mut self.out, xid);
        xid
    }

    /// Queues a request; returns its xid. Nothing is sent before [`Self::flush`].
    pub fn queue(&mut self, request: &Request) -> i32 {
        let xid = self.next_xid();
        write_request_frame(&mut self.out, xid, request);
        xid
    }

    /// Sends everything queued, in one write when the socket takes it.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            self.writer
                .write_all(&self.out)
                .await
                .context("cannot send requests")?;
            self.out.clear();
        }
        Ok(())
    }

    async fn next_frame(&mut self) -> anyhow::Result<Bytes> {
        match self.reader.next().await {
            Some(frame) => frame.context("bad frame from the server"),
            None => bail!("the server closed the connection"),
        }
    }

    /// The next reply to a request (watch notifications, which the benchmark never asks for,
    /// are skipped).
    pub async fn recv(&mut self) -> anyhow::Result<Reply> {
        match self.recv_or_closed().await? {
            Some(reply) => Ok(reply),
            None => bail!("the server closed the connection"),
        }
    }

    /// [`Self::recv`], or `None` when the server closed the connection instead.
    async fn recv_or_closed(&mut self) -> anyhow::Result<Option<Reply>> {
        loop {
            let Some(frame) = self.reader.next().await else {
                return Ok(None);
            };
            let mut reader = Reader::new(frame.context("bad frame from the server")?);
            let header = ReplyHeader::decode(&mut reader).context("malformed ReplyHeader")?;
            self.last_zxid_seen = self.last_zxid_seen.max(header.zxid);
            if header.xid != NOTIFICATION_XID {
                return Ok(Some(Reply {
                    header,
                    body: reader.read_rest(),
                }));
            }
        }
    }

    /// Sends one request and waits for its reply, decoded. A non-zero error code is returned
    /// as is (in the header) for the caller to judge.
    pub async fn call(&mut self, request: &Request) -> anyhow::Result<(ReplyHeader, Response)> {
        let xid = self.queue(request);
        self.flush().await?;
        let reply = self.recv().await?;
        if reply.header.xid != xid {
            bail!("reply xid {} for request xid {xid}", reply.header.xid);
        }
        let response = Response::decode(
            request.op_code(),
            &reply.header,
            &mut Reader::new(reply.body),
        )
        .with_context(|| format!("malformed reply to {:?}", request.op_code()))?;
        Ok((reply.header, response))
    }

    /// [`Self::call`] that accepts success and the listed error codes only.
    pub async fn call_accepting(
        &mut self,
        request: &Request,
        accepted: &[ErrorCode],
    ) -> anyhow::Result<Response> {
        let (header, response) = self.call(request).await?;
        if header.err != 0 && !accepted.iter().any(|code| code.code() == header.err) {
            bail!("{:?} failed with error {}", request.op_code(), header.err);
        }
        Ok(response)
    }

    /// Ends the session cleanly (closeSession, then the server closes the socket). ZooKeeper
    /// sometimes closes the socket before its reply is written (the session's close and the
    /// reply race on a follower), so a connection closed in answer counts as closed.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let xid = self.queue(&Request::CloseSession);
        self.flush().await?;
        let Some(Reply { header, .. }) = self.recv_or_closed().await? else {
            return Ok(());
        };
        if header.xid != xid {
            bail!("reply xid {} to closeSession xid {xid}", header.xid);
        }
        if header.err != 0 {
            bail!(
                "{:?} failed with error {}",
                OpCode::CloseSession,
                header.err
            );
        }
        Ok(())
    }
}

/// Sends a four-letter word and returns the whole answer (the server closes afterwards).
pub async fn four_letter_word(
    addr: SocketAddr,
    word: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("no answer to {word} within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;
    use zk_proto::{GetDataRequest, RequestHeader};

    use super::*;

    /// How the fake server answers closeSession.
    #[derive(Clone, Copy)]
    enum OnClose {
        DropTheSocket,
        Reply(ErrorCode),
    }

    /// A server that grants one session, then answers its closeSession as told.
    async fn fake_server(on_close: OnClose) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read_half, mut write_half) = stream.into_split();
            let mut frames = FramedRead::new(read_half, FrameCodec::default());
            frames.next().await.unwrap().unwrap();
            let mut out = BytesMut::new();
            let granted = ConnectResponse {
                protocol_version: 0,
                timeout: 4000,
                session_id: 42,
                passwd: Bytes::from_static(&[7; 16]),
                read_only: Some(false),
            };
            write_frame(&mut out, |buf| granted.encode(buf));
            write_half.write_all(&out).await.unwrap();
            let close = frames.next().await.unwrap().unwrap();
            let header = RequestHeader::decode(&mut Reader::new(close)).unwrap();
            assert_eq!(header.op_code, OpCode::CloseSession.as_i32());
            if let OnClose::Reply(err) = on_close {
                let mut out = BytesMut::new();
                let reply = ReplyHeader {
                    xid: header.xid,
                    zxid: 1,
                    err: err.code(),
                };
                write_frame(&mut out, |buf| reply.encode(buf));
                write_half.write_all(&out).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_close_answered_by_a_closed_socket_or_ok_succeeds_and_an_error_fails() {
        for on_close in [OnClose::DropTheSocket, OnClose::Reply(ErrorCode::Ok)] {
            let session = Session::connect(fake_server(on_close).await).await.unwrap();
            assert_eq!(session.credentials().session_id, 42);
            session.close().await.unwrap();
        }
        let refused = OnClose::Reply(ErrorCode::SessionExpired);
        let session = Session::connect(fake_server(refused).await).await.unwrap();
        assert!(session.close().await.is_err());
    }

    #[test]
    fn a_template_patches_only_the_xid() {
        let request = Request::GetData(GetDataRequest {
            path: "/bench/c1".into(),
            watch: false,
        });
        let template = FrameTemplate::new(&request);
        let mut from_template = BytesMut::new();
        template.write(&mut from_template, 0x0102_0304);
        template.write(&mut from_template, 7);

        let mut direct = BytesMut::new();
        write_request_frame(&mut direct, 0x0102_0304, &request);
        write_request_frame(&mut direct, 7, &request);
        assert_eq!(from_template, direct);

        let mut reader = Reader::new(from_template.freeze().slice(4..));
        let header = RequestHeader::decode(&mut reader).unwrap();
        assert_eq!(header.xid, 0x0102_0304);
        assert_eq!(header.op_code, OpCode::GetData.as_i32());
    }
}
