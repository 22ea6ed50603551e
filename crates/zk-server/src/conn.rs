//! One client connection: the four-letter-word check, the session handshake, then requests in
//! order (per-session FIFO) with replies in arrival order and notifications ahead of any reply
//! that shows their change.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use zk_proto::codec::{FrameCodec, check_frame_len, write_frame};
use zk_proto::fourlw::FourLetterWord;
use zk_proto::jute::{Decode, Encode, Reader as JuteReader};
use zk_proto::multi::{MultiResponse, MultiResult};
use zk_proto::response::{Response, write_reply_frame};
use zk_proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ErrorCode, GetDataResponse,
    OpCode, PING_XID, ReplyHeader, Request, RequestHeader, SetAclResponse, SetDataResponse,
    SyncResponse,
};

use crate::acl::AuthId;
use crate::audit::{Audited, Who};
use crate::pipeline::WriteJob;
use crate::prep::{OpResult, WriteReply, WriteRequest};
use crate::reads::{self, Reader};
use crate::sasl::{DigestMd5Server, Step};
use crate::server::{ConnHandle, Outbound, Shared};
use crate::session::password;
use crate::watch::ConnId;
use zk_proto::SetSaslResponse;

/// Bytes of a request header (xid, opcode) ahead of the body.
const REQUEST_HEADER_LEN: usize = 8;

/// How long a connection may stay without a session (ZooKeeper's sessionlessCnxnTimeout).
pub const SESSIONLESS_TIMEOUT_MS: u64 = 10_000;
const SESSIONLESS_TIMEOUT: Duration = Duration::from_millis(SESSIONLESS_TIMEOUT_MS);

/// Why a connection ended; logged at debug level (clients come and go).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("client closed the connection")]
    Eof,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Done(&'static str),
}

/// How a connection reached the server.
#[derive(Debug)]
pub enum Transport {
    Plain,
    /// Through the TLS port, with the identities the client's certificate proved.
    Tls {
        identities: Vec<AuthId>,
    },
}

/// Serves one client connection until it closes.
pub async fn serve<S>(shared: Arc<Shared>, stream: S, remote: SocketAddr, transport: Transport)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let ip = AuthId::new("ip", remote.ip().to_string());
    let (ids, secure): (Arc<[AuthId]>, bool) = match transport {
        Transport::Plain => (Arc::from([ip]), false),
        Transport::Tls { identities } => (std::iter::once(ip).chain(identities).collect(), true),
    };
    let handle = ConnHandle {
        tx,
        session_id: Arc::new(AtomicI64::new(0)),
        ids: Arc::new(Mutex::new(ids.clone())),
        remote,
        secure,
        stats: Arc::new(crate::stats::ConnStats::new(
            crate::pipeline::wall_clock_ms(),
        )),
    };
    let conn_id = shared.register_conn(handle.clone());
    let mut conn = Connection {
        shared: shared.clone(),
        id: conn_id,
        handle,
        ids,
        rx,
        out: BytesMut::with_capacity(4096),
        queue: VecDeque::new(),
        session_id: 0,
        close_requested: false,
        sasl: None,
    };
    let result = conn.run(stream).await;
    match result {
        Ok(()) | Err(Closed::Eof) => tracing::debug!(%remote, "connection closed"),
        Err(reason) => tracing::debug!(%remote, %reason, "connection closed"),
    }
    shared.unregister_conn(conn_id);
}

/// A request waiting its turn, or a write waiting for its commit.
#[derive(Debug)]
enum Queued {
    Submitted {
        xid: i32,
        op: OpCode,
        started: Instant,
        /// What the audit log records of it, when `audit.enable` is on.
        audit: Option<Box<Audited>>,
    },
    Waiting {
        xid: i32,
        op: OpCode,
        request: Request,
        /// The request body as the client sent it, for forwarding to a leader.
        body: Bytes,
        started: Instant,
    },
}

struct Connection {
    shared: Arc<Shared>,
    id: ConnId,
    handle: ConnHandle,
    /// Who this connection is authenticated as: read on every request, changed by auth only.
    ids: Arc<[AuthId]>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    out: BytesMut,
    queue: VecDeque<Queued>,
    session_id: i64,
    /// Set when a close arrived while answering a read; honoured after the reply is queued.
    close_requested: bool,
    /// The SASL exchange in progress on this connection, if any.
    sasl: Option<DigestMd5Server>,
}

impl Connection {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: S) -> Result<(), Closed> {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut first = [0u8; 4];
        tokio::time::timeout(SESSIONLESS_TIMEOUT, reader.read_exact(&mut first))
            .await
            .map_err(|_| self.sessionless_timeout())??;
        if let Some(word) = FourLetterWord::from_first_four(&first) {
            // Counted on the connection as ZooKeeper does (`cons` shows it with recved=1);
            // `fourlw::answer` counts it for the server.
            self.handle.stats.received.fetch_add(1, Ordering::Relaxed);
            self.handle
                .stats
                .answering_word
                .store(true, Ordering::Relaxed);
            let mut argument = None;
            if word == FourLetterWord::Stmk {
                let mut mask = [0u8; 8];
                let read = tokio::time::timeout(SESSIONLESS_TIMEOUT, reader.read_exact(&mut mask));
                if let Ok(Ok(_)) = read.await {
                    argument = Some(i64::from_be_bytes(mask));
                }
            }
            let answer = crate::fourlw::answer(&self.shared, word, argument);
            writer.write_all(answer.as_bytes()).await?;
            self.shared.stats.sent(1);
            writer.shutdown().await?;
            return Ok(());
        }
        let max = self.shared.config.jute_max_buffer;
        let len = check_frame_len(i32::from_be_bytes(first), max)
            .map_err(|e| Closed::Protocol(format!("bad connect frame: {e}")))?;
        let mut payload = vec![0u8; len];
        tokio::time::timeout(SESSIONLESS_TIMEOUT, reader.read_exact(&mut payload))
            .await
            .map_err(|_| self.sessionless_timeout())??;
        let request = ConnectRequest::decode(&mut JuteReader::new(Bytes::from(payload)))
            .map_err(|e| Closed::Protocol(format!("unreadable connect request: {e}")))?;
        // The handshake's packets count like any others, in `srvr` and `cons`.
        self.shared.stats.received(4 + len);
        self.shared
            .stats
            .connections_requested
            .fetch_add(1, Ordering::Relaxed);
        self.handle.stats.received.fetch_add(1, Ordering::Relaxed);
        if !self.shared.serving() {
            // As ZooKeeper does while it has no running server: the client tries another one.
            return Err(Closed::Done("not serving client sessions"));
        }
        if self.shared.is_read_only() && request.read_only != Some(true) {
            return Err(Closed::Done(
                "read-only server; the client wants a read/write one",
            ));
        }
        let timeout = self.handshake(&request, &mut writer).await?;

        let mut frames = FramedRead::new(reader, FrameCodec::new(max));
        let idle = Duration::from_millis(u64::from(timeout));
        let ended = self.serve_requests(&mut frames, &mut writer, idle).await;
        // Whatever was answered before the end (a closeSession reply, an error) still goes out.
        let _ = self.flush(&mut writer).await;
        ended
    }

    async fn serve_requests<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &mut self,
        frames: &mut FramedRead<ReadHalf<R>, FrameCodec>,
        writer: &mut W,
        idle: Duration,
    ) -> Result<(), Closed> {
        // One timer for the connection's life, moved on only when it fires: re-arming it on
        // every request would cost two timer-wheel operations per request.
        let mut last_traffic = tokio::time::Instant::now();
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        loop {
            tokio::select! {
                biased;
                message = self.rx.recv() => {
                    let Some(message) = message else { return Err(Closed::Done("server stopping")) };
                    self.on_outbound(message).await?;
                }
                frame = frames.next() => {
                    last_traffic = tokio::time::Instant::now();
                    match frame {
                        None => return Err(Closed::Eof),
                        Some(Err(e)) => return Err(Closed::Protocol(format!("bad frame: {e}"))),
                        Some(Ok(frame)) => self.on_frame(frame).await?,
                    }
                }
                () = &mut idle_timer => {
                    let deadline = last_traffic + idle;
                    if deadline <= tokio::time::Instant::now() {
                        return Err(Closed::Done("no traffic within the session timeout"));
                    }
                    idle_timer.as_mut().reset(deadline);
                    continue;
                }
            }
            if self.close_requested {
                return Err(Closed::Done("session closed by the server"));
            }
            while let Ok(message) = self.rx.try_recv() {
                self.on_outbound(message).await?;
            }
            self.flush(writer).await?;
        }
    }

    async fn flush<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> Result<(), Closed> {
        if !self.out.is_empty() {
            writer.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sets up or resumes the session (§4.2) and sends the ConnectResponse.
    async fn handshake<W: AsyncWrite + Unpin>(
        &mut self,
        request: &ConnectRequest,
        writer: &mut W,
    ) -> Result<u32, Closed> {
        let shared = self.shared.clone();
        let last_zxid = shared.db.last_zxid();
        if request.last_zxid_seen > last_zxid {
            return Err(Closed::Protocol(format!(
                "client has seen zxid 0x{:x}, ahead of ours 0x{last_zxid:x}",
                request.last_zxid_seen
            )));
        }
        let min = shared.config.min_session_timeout();
        let max = shared.config.max_session_timeout();
        let timeout = u64::try_from(request.timeout).unwrap_or(0).clamp(min, max);
        let timeout = u32::try_from(timeout).unwrap_or(u32::MAX);
        let read_only = request.read_only.map(|_| shared.is_read_only());
        let session_id = if request.session_id == 0 {
            let session_id = shared.new_session_id();
            self.bind_session(session_id);
            let create = WriteRequest::CreateSession {
                timeout: i32::try_from(timeout).unwrap_or(i32::MAX),
            };
            let wire = (
                crate::replica::OP_CREATE_SESSION,
                Bytes::copy_from_slice(&i32::try_from(timeout).unwrap_or(i32::MAX).to_be_bytes()),
            );
            let started = Instant::now();
            self.submit_job(0, create, Some(wire)).await?;
            match self.rx.recv().await {
                Some(Outbound::Reply { .. }) => {
                    // A session's creation is a write like any other in ZooKeeper's figures.
                    self.handle.stats.note_request("SESS", 0);
                    self.record_latency(started, Answered::Write);
                    session_id
                }
                _ => return Err(Closed::Done("session could not be created")),
            }
        } else {
            let session_id = request.session_id;
            // Any other connection of this session goes first, even if this attempt fails.
            shared.close_session_conns_except(session_id, Some(self.id));
            let valid = request.passwd.as_ref() == password(session_id)
                && self
                    .session_is_live(session_id, timeout)
                    .await
                    .ok_or(Closed::Done("could not check the session with the leader"))?;
            if !valid {
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout: 0,
                    session_id: 0,
                    passwd: Bytes::from_static(&[0u8; 16]),
                    read_only,
                };
                self.write_connect_response(&response);
                self.flush(writer).await?;
                return Err(Closed::Done("session expired or unknown"));
            }
            shared
                .sessions()
                .track(session_id, timeout, shared.now_ms());
            self.bind_session(session_id);
            session_id
        };
        let response = ConnectResponse {
            protocol_version: 0,
            timeout: i32::try_from(timeout).unwrap_or(i32::MAX),
            session_id,
            passwd: Bytes::copy_from_slice(&password(session_id)),
            read_only,
        };
        self.write_connect_response(&response);
        self.flush(writer).await?;
        tracing::debug!(
            session = format_args!("0x{session_id:x}"),
            timeout,
            remote = %self.handle.remote,
            "session established"
        );
        Ok(timeout)
    }

    fn sessionless_timeout(&self) -> Closed {
        self.shared
            .stats
            .sessionless_connections_expired
            .fetch_add(1, Ordering::Relaxed);
        Closed::Done("no connect request within the sessionless timeout")
    }

    fn write_connect_response(&mut self, response: &ConnectResponse) {
        write_frame(&mut self.out, |buf| response.encode(buf));
        self.shared.stats.sent(1);
        self.handle.stats.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a session a client resumes here is live: a learner asks the leader, which owns
    /// sessions (and then knows the client is here); a leader takes the session over. `None`
    /// when that cannot be known now.
    async fn session_is_live(&self, session_id: i64, timeout: u32) -> Option<bool> {
        let shared = &self.shared;
        if shared.is_learner() {
            let within = Duration::from_millis(u64::from(timeout));
            return shared.revalidate(session_id, timeout, within).await;
        }
        if !shared.serving() {
            return None;
        }
        let live = shared.sessions().is_live(session_id);
        if live && let (Some(myid), false) = (shared.myid(), shared.is_read_only()) {
            shared.move_session(session_id, myid);
        }
        Some(live)
    }

    fn bind_session(&mut self, session_id: i64) {
        self.session_id = session_id;
        self.handle.session_id.store(session_id, Ordering::Release);
    }

    /// Adds identities (once each) and publishes the new set for watch deliveries.
    fn add_ids(&mut self, added: impl IntoIterator<Item = AuthId>) {
        let mut ids = self.ids.to_vec();
        for id in added {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        self.ids = Arc::from(ids);
        if let Ok(mut published) = self.handle.ids.lock() {
            *published = self.ids.clone();
        }
    }

    async fn on_outbound(&mut self, message: Outbound) -> Result<(), Closed> {
        match message {
            Outbound::Event(frame) => {
                self.out.extend_from_slice(&frame);
                self.shared.stats.sent(1);
                self.shared
                    .stats
                    .record_response(frame.len().saturating_sub(4));
                Ok(())
            }
            Outbound::Close => Err(Closed::Done("session closed by the server")),
            Outbound::Reply { zxid, reply } => {
                let Some(Queued::Submitted {
                    xid,
                    op,
                    started,
                    audit,
                }) = self.queue.pop_front()
                else {
                    return Err(Closed::Protocol(
                        "a write reply with no write waiting".into(),
                    ));
                };
                if reply == WriteReply::Single(OpResult::Failed(ErrorCode::SessionMoved)) {
                    // As ZooKeeper does: no reply; the client's session lives on elsewhere.
                    return Err(Closed::Done("session moved to another server"));
                }
                if let Some(audited) = audit {
                    self.audit(&audited, &reply);
                }
                self.write_reply(xid, op, zxid, &reply, started);
                if op == OpCode::CloseSession {
                    return Err(Closed::Done("session closed by the client"));
                }
                self.advance().await
            }
        }
    }

    /// Handles one request frame.
    async fn on_frame(&mut self, frame: Bytes) -> Result<(), Closed> {
        let started = Instant::now();
        self.shared.stats.received(4 + frame.len());
        self.handle.stats.received.fetch_add(1, Ordering::Relaxed);
        let body = if frame.len() >= REQUEST_HEADER_LEN {
            frame.slice(REQUEST_HEADER_LEN..)
        } else {
            Bytes::new()
        };
        let mut r = JuteReader::with_max_len(frame, self.shared.config.jute_max_buffer * 2);
        let header = RequestHeader::decode(&mut r)
            .map_err(|e| Closed::Protocol(format!("unreadable request header: {e}")))?;
        if !self.authenticated_enough(header.op_code) {
            // As ZooKeeper's AuthenticationHelper: answer, then close the connection (the
            // session lives on until it expires or a client authenticates into it).
            tracing::warn!(
                remote = %self.handle.remote,
                "a connection without the enforced authentication sent a request; closing it"
            );
            self.write_header(header.xid, 0, ErrorCode::SessionClosedRequireSaslAuth);
            return Err(Closed::Done("authentication required"));
        }
        let op = match OpCode::try_from(header.op_code) {
            Ok(op) if is_client_op(op) => op,
            _ => {
                self.write_error(header.xid, -1, ErrorCode::Unimplemented);
                return Err(Closed::Protocol(format!(
                    "unknown opcode {}",
                    header.op_code
                )));
            }
        };
        let request = match Request::decode(op, &mut r) {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(%error, ?op, "request body unreadable");
                let zxid = self.shared.db.last_zxid();
                self.write_error(header.xid, zxid, ErrorCode::MarshallingError);
                return Ok(());
            }
        };
        self.handle.stats.note_request(op.short_name(), header.xid);
        // Every request but auth refreshes the session; requests of a closing session are dropped.
        if op != OpCode::Auth && !self.shared.touch_session(self.session_id) {
            return Ok(());
        }
        match request {
            Request::Ping => {
                let zxid = self.shared.db.last_zxid();
                self.write_header(PING_XID, zxid, ErrorCode::Ok);
                Ok(())
            }
            Request::Auth(auth) => self.authenticate(header.xid, &auth),
            Request::Sasl(sasl) => self.sasl_step(header.xid, sasl.token.as_deref()),
            request => {
                self.handle
                    .stats
                    .outstanding
                    .fetch_add(1, Ordering::Relaxed);
                if matches!(request, Request::CloseSession) {
                    self.shared.sessions().set_closing(self.session_id);
                }
                self.queue.push_back(Queued::Waiting {
                    xid: header.xid,
                    op,
                    request,
                    body,
                    started,
                });
                self.advance().await
            }
        }
    }

    /// Moves the queue forward: runs reads at the head, submits writes that only have submitted
    /// writes ahead of them. A read never overtakes an earlier write of its session, and a write
    /// is never submitted before an earlier read has run.
    async fn advance(&mut self) -> Result<(), Closed> {
        loop {
            let Some(index) = self
                .queue
                .iter()
                .position(|q| matches!(q, Queued::Waiting { .. }))
            else {
                return Ok(());
            };
            let Some(Queued::Waiting { request, .. }) = self.queue.get(index) else {
                return Ok(());
            };
            let write = self.write_form(request);
            let audit = match &write {
                Some(_) if self.shared.config.audit_enable => Audited::of(request).map(Box::new),
                _ => None,
            };
            match write {
                Some(write) => {
                    let Some(Queued::Waiting {
                        xid,
                        op,
                        started,
                        body,
                        ..
                    }) = self.queue.get(index)
                    else {
                        return Ok(());
                    };
                    let (xid, op, started) = (*xid, *op, *started);
                    let wire = (op.as_i32(), body.clone());
                    if let Some(slot) = self.queue.get_mut(index) {
                        *slot = Queued::Submitted {
                            xid,
                            op,
                            started,
                            audit,
                        };
                    }
                    self.submit_job(xid, write, Some(wire)).await?;
                }
                None if index == 0 => {
                    let Some(Queued::Waiting {
                        xid,
                        op,
                        request,
                        started,
                        ..
                    }) = self.queue.pop_front()
                    else {
                        return Ok(());
                    };
                    self.read(xid, op, &request, started);
                }
                None => return Ok(()),
            }
        }
    }

    /// The transaction-path form of a request, or `None` for reads. On a learner a `sync` takes
    /// that path too (it is answered after the leader's earlier commits arrive), and on a
    /// read-only server (which refuses it).
    fn write_form(&self, request: &Request) -> Option<WriteRequest> {
        match request {
            Request::Sync(sync) if self.shared.is_learner() || self.shared.is_read_only() => {
                Some(WriteRequest::Sync {
                    path: sync.path.clone(),
                })
            }
            request => crate::prep::as_write(request, self.shared.config.reconfig_enabled),
        }
    }

    async fn submit_job(
        &mut self,
        xid: i32,
        request: WriteRequest,
        wire: Option<(i32, Bytes)>,
    ) -> Result<(), Closed> {
        let job = WriteJob {
            session_id: self.session_id,
            xid,
            request,
            ids: self.ids.clone(),
            reply_to: Some(self.id),
            wire,
            origin: None,
        };
        self.shared
            .writes
            .send(job)
            .await
            .map_err(|_| Closed::Done("server stopping"))
    }

    /// Logs a write's audit lines on its reply. A read-only server's refusal is not audited:
    /// ZooKeeper refuses before the request reaches the processor that audits.
    fn audit(&self, audited: &Audited, reply: &WriteReply) {
        if matches!(
            reply,
            WriteReply::Single(OpResult::Failed(ErrorCode::NotReadOnly))
        ) {
            return;
        }
        let ip = self.handle.remote.ip().to_string();
        let who = Who {
            session_id: self.session_id,
            ip: &ip,
            ids: &self.ids,
        };
        for event in audited.events(reply, &who) {
            crate::audit::emit(&event);
        }
    }

    fn read(&mut self, xid: i32, op: OpCode, request: &Request, started: Instant) {
        let who = Reader {
            conn: self.id,
            session_id: self.session_id,
            ids: &self.ids,
            policy: &self.shared.policy.acl,
        };
        let Some(outcome) = reads::execute(&self.shared.db, who, request) else {
            let zxid = self.shared.db.last_zxid();
            self.write_error(xid, zxid, ErrorCode::Unimplemented);
            return;
        };
        // Notifications of changes this read may show must go out first. No write reply can be
        // waiting here: writes behind this read have not been submitted yet.
        while let Ok(message) = self.rx.try_recv() {
            match message {
                Outbound::Event(frame) => self.out.extend_from_slice(&frame),
                Outbound::Close => self.close_requested = true,
                Outbound::Reply { .. } => {
                    tracing::error!(?op, "a write reply arrived while a read was ahead of it");
                    self.close_requested = true;
                }
            }
        }
        for event in &outcome.events {
            self.out.extend_from_slice(event);
        }
        let header = ReplyHeader {
            xid,
            zxid: outcome.zxid,
            err: outcome.err.code(),
        };
        let body = outcome.body.as_ref().and_then(Response::body);
        self.emit(&header, body, Some((started, Answered::Read)));
    }

    /// Whether a request of `op_code` may be served under `enforce.auth.*`: auth and SASL
    /// always, anything else once the connection holds an identity of an enforced scheme.
    fn authenticated_enough(&self, op_code: i32) -> bool {
        let Some(schemes) = &self.shared.enforced_auth else {
            return true;
        };
        op_code == OpCode::Auth as i32
            || op_code == OpCode::Sasl as i32
            || self.ids.iter().any(|id| schemes.contains(&id.scheme))
    }

    fn authenticate(&mut self, xid: i32, auth: &zk_proto::AuthPacket) -> Result<(), Closed> {
        let credentials = auth.auth.as_deref().unwrap_or_default();
        let added = match auth.scheme.as_str() {
            "digest" if self.shared.policy.acl.digest_disabled => None,
            "digest" => match std::str::from_utf8(credentials) {
                Ok(text) => Some(self.shared.policy.acl.digest_identities(text)),
                Err(_) => None,
            },
            "ip" => Some(Vec::new()),
            // Only a certificate authenticates in x509: the TLS handshake already added it.
            "x509" if self.ids.iter().any(|id| id.scheme == "x509") => Some(Vec::new()),
            _ => None,
        };
        match added {
            Some(added) => {
                self.add_ids(added);
                self.write_header(xid, 0, ErrorCode::Ok);
                Ok(())
            }
            None => {
                self.write_header(xid, 0, ErrorCode::AuthFailed);
                Err(Closed::Done("authentication failed"))
            }
        }
    }

    /// One round of SASL DIGEST-MD5 (§7.18): challenge, then verification of the response.
    fn sasl_step(&mut self, xid: i32, token: Option<&[u8]>) -> Result<(), Closed> {
        let Some(users) = self.shared.sasl_users.clone() else {
            self.write_sasl(xid, ErrorCode::AuthFailed, None);
            return Err(Closed::Done("SASL is not configured"));
        };
        let server = self
            .sasl
            .get_or_insert_with(|| DigestMd5Server::for_zookeeper(users));
        match server.step(token.unwrap_or_default()) {
            Ok(Step::Challenge(challenge)) => {
                self.write_sasl(xid, ErrorCode::Ok, Some(challenge.into()));
                Ok(())
            }
            Ok(Step::Done { rspauth, user }) => {
                self.add_ids([AuthId::new("sasl", user)]);
                self.write_sasl(xid, ErrorCode::Ok, Some(rspauth.into()));
                Ok(())
            }
            Err(error) => {
                tracing::info!(%error, remote = %self.handle.remote, "SASL authentication failed");
                self.write_sasl(xid, ErrorCode::AuthFailed, None);
                Err(Closed::Done("SASL authentication failed"))
            }
        }
    }

    /// SASL replies carry a token body even when they fail.
    fn write_sasl(&mut self, xid: i32, err: ErrorCode, token: Option<Bytes>) {
        let header = ReplyHeader {
            xid,
            zxid: 0,
            err: err.code(),
        };
        let body = SetSaslResponse { token };
        self.emit(&header, Some(&body), None);
    }

    fn write_header(&mut self, xid: i32, zxid: i64, err: ErrorCode) {
        let header = ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        };
        self.emit(&header, None, None);
    }

    /// Writes one reply frame and keeps the counters that `srvr`, `stat` and `cons` show;
    /// `answered` is the request's arrival and whether it was a read or a write.
    fn emit(
        &mut self,
        header: &ReplyHeader,
        body: Option<&dyn Encode>,
        answered: Option<(Instant, Answered)>,
    ) {
        let before = self.out.len();
        write_reply_frame(&mut self.out, header, body);
        self.shared.stats.sent(1);
        // ZooKeeper counts the reply's header and body, not its length prefix.
        self.shared
            .stats
            .record_response((self.out.len() - before).saturating_sub(4));
        let stats = &self.handle.stats;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        stats.last_zxid.store(header.zxid, Ordering::Relaxed);
        stats
            .last_response_ms
            .store(self.shared.now_ms(), Ordering::Relaxed);
        if let Some((started, answered)) = answered {
            self.record_latency(started, answered);
            self.handle
                .stats
                .outstanding
                .fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A request's round trip, in the connection's, the server's and ZooKeeper's read or
    /// write latency figures.
    fn record_latency(&self, started: Instant, answered: Answered) {
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let signed = i64::try_from(millis).unwrap_or(i64::MAX);
        self.handle.stats.latency.record(signed);
        self.shared.stats.record_latency(signed);
        match answered {
            Answered::Read => self.shared.stats.read_latency.record(millis),
            Answered::Write => self.shared.stats.update_latency.record(millis),
        }
    }

    fn write_error(&mut self, xid: i32, zxid: i64, err: ErrorCode) {
        self.write_header(xid, zxid, err);
    }

    /// Encodes the reply of a committed write.
    fn write_reply(
        &mut self,
        xid: i32,
        op: OpCode,
        zxid: i64,
        reply: &WriteReply,
        started: Instant,
    ) {
        let body = write_reply_body(op, reply);
        let err = match reply {
            WriteReply::Single(OpResult::Failed(err)) => *err,
            _ => ErrorCode::Ok,
        };
        let header = ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        };
        let body = body.as_ref().and_then(Response::body);
        self.emit(&header, body, Some((started, Answered::Write)));
    }
}

/// Which of ZooKeeper's latency series a reply counts in: `readlatency` or `updatelatency`
/// (writes, which went through the transaction path).
#[derive(Debug, Clone, Copy)]
enum Answered {
    Read,
    Write,
}

/// Opcodes a client may send.
fn is_client_op(op: OpCode) -> bool {
    !matches!(
        op,
        OpCode::Notification
            | OpCode::Error
            | OpCode::CreateSession
            | OpCode::Check
            | OpCode::DeleteContainer
    )
}

/// The body of a committed write's reply.
fn write_reply_body(op: OpCode, reply: &WriteReply) -> Option<Response> {
    match reply {
        WriteReply::Single(result) => match result {
            OpResult::Created { path, stat: None } => {
                Some(Response::Create(CreateResponse { path: path.clone() }))
            }
            OpResult::Created {
                path,
                stat: Some(stat),
            } => Some(Response::Create2(Create2Response {
                path: path.clone(),
                stat: stat.clone(),
            })),
            OpResult::Stat(stat) if op == OpCode::SetAcl => {
                Some(Response::SetAcl(SetAclResponse { stat: stat.clone() }))
            }
            OpResult::Stat(stat) => Some(Response::SetData(SetDataResponse { stat: stat.clone() })),
            OpResult::Reconfigured { config, stat } => Some(Response::GetData(GetDataResponse {
                data: Some(config.clone()),
                stat: stat.clone(),
            })),
            OpResult::Deleted | OpResult::Checked | OpResult::Failed(_) => None,
        },
        WriteReply::Multi(results) => Some(Response::Multi(MultiResponse {
            results: results.iter().map(multi_result).collect(),
        })),
        WriteReply::Done => None,
        WriteReply::Synced { path } => Some(Response::Sync(SyncResponse { path: path.clone() })),
    }
}

fn multi_result(result: &OpResult) -> MultiResult {
    match result {
        OpResult::Created { path, stat: None } => MultiResult::Create { path: path.clone() },
        OpResult::Created {
            path,
            stat: Some(stat),
        } => MultiResult::Create2 {
            path: path.clone(),
            stat: stat.clone(),
        },
        OpResult::Deleted => MultiResult::Delete,
        OpResult::Stat(stat) => MultiResult::SetData { stat: stat.clone() },
        OpResult::Checked => MultiResult::Check,
        // A reconfig is never part of a multi.
        OpResult::Reconfigured { stat, .. } => MultiResult::SetData { stat: stat.clone() },
        OpResult::Failed(err) => MultiResult::Error { err: err.code() },
    }
}
