//! The connections a peer listener hands to tonic: accepted TCP streams, inside TLS when the
//! members speak it ([`PeerTls`]). TLS handshakes run side by side inside the stream, each under
//! a deadline, so that a peer that stalls or fails its handshake holds up no other; a failed one
//! is logged with the address it came from. Dropping the stream closes the listener at once, so
//! that a member restarted in the same process can bind the port again.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::PeerTls;

/// How long a dialling peer has to complete its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// After a failed `accept` (out of file descriptors, say), the listener waits this long.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// One accepted peer connection.
#[derive(Debug)]
pub enum PeerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl PeerStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            PeerStream::Plain(tcp) => tcp,
            PeerStream::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// The connections accepted on `listener`, TLS ones once their handshake completes.
pub fn accept(listener: TcpListener, tls: Option<PeerTls>) -> PeerIncoming {
    PeerIncoming {
        listener,
        tls,
        handshakes: FuturesUnordered::new(),
        retry: None,
    }
}

/// See [`accept`].
pub struct PeerIncoming {
    listener: TcpListener,
    tls: Option<PeerTls>,
    handshakes: FuturesUnordered<BoxFuture<'static, Option<TlsStream<TcpStream>>>>,
    /// Set after a failed `accept`: no new one until it fires.
    retry: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for PeerIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerIncoming")
            .field("listener", &self.listener)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl PeerIncoming {
    /// The next connection the listener accepts, if one is ready.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(TcpStream, SocketAddr)> {
        loop {
            if let Some(retry) = &mut self.retry {
                ready!(retry.as_mut().poll(cx));
                self.retry = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok(accepted) => return Poll::Ready(accepted),
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a peer connection");
                    self.retry = Some(Box::pin(tokio::time::sleep(ACCEPT_RETRY)));
                }
            }
        }
    }
}

impl Stream for PeerIncoming {
    type Item = io::Result<PeerStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while let Poll::Ready((tcp, from)) = this.poll_accept(cx) {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, %from, "cannot set TCP_NODELAY");
            }
            let Some(tls) = this.tls.clone() else {
                return Poll::Ready(Some(Ok(PeerStream::Plain(tcp))));
            };
            this.handshakes
                .push(Box::pin(async move { handshake(&tls, tcp, from).await }));
        }
        while let Poll::Ready(Some(done)) = this.handshakes.poll_next_unpin(cx) {
            if let Some(stream) = done {
                return Poll::Ready(Some(Ok(PeerStream::Tls(Box::new(stream)))));
            }
        }
        Poll::Pending
    }
}

async fn handshake(
    tls: &PeerTls,
    tcp: TcpStream,
    from: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_DEADLINE, tls.acceptor().accept(tcp)).await {
        Ok(Ok(stream)) => Some(stream),
        // A probe that connects and closes (a health check, a port scan) says nothing.
        Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            tracing::debug!(%from, "peer connection closed before its TLS handshake");
            None
        }
        Ok(Err(error)) => {
            tracing::warn!(%from, %error, "peer connection refused: TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::warn!(%from, "peer connection refused: no TLS handshake within {HANDSHAKE_DEADLINE:?}");
            None
        }
    }
}

impl Connected for PeerStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.tcp().connect_info()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            PeerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            PeerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            PeerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PeerStream::Plain(tcp) => tcp.is_write_vectored(),
            PeerStream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            PeerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            PeerStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
