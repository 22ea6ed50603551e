//! The connections a peer listener hands to tonic: accepted TCP streams, inside TLS when the
//! members speak it ([`PeerTls`]). Each TLS handshake runs on its own task, under a deadline,
//! so that a peer that stalls or fails its handshake holds up no other; a failed one is logged
//! with the address it came from.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::PeerTls;

/// How long a dialling peer has to complete its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// After a failed `accept` (out of file descriptors, say), the listener waits this long.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Accepted connections waiting for tonic.
const BACKLOG: usize = 16;

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

/// The connections accepted on `listener` (TLS ones once their handshake completes), until
/// the stream is dropped, which closes the listener.
pub fn accept(
    listener: TcpListener,
    tls: Option<PeerTls>,
) -> impl Stream<Item = io::Result<PeerStream>> + Send + 'static {
    let (sender, mut receiver) = mpsc::channel(BACKLOG);
    tokio::spawn(accept_loop(listener, tls, sender));
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx).map(|next| next.map(Ok)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<PeerTls>,
    sender: mpsc::Sender<PeerStream>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = sender.closed() => return,
        };
        let (tcp, from) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a peer connection");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, %from, "cannot set TCP_NODELAY");
        }
        match &tls {
            None => {
                if sender.send(PeerStream::Plain(tcp)).await.is_err() {
                    return;
                }
            }
            Some(tls) => {
                let (tls, sender) = (tls.clone(), sender.clone());
                tokio::spawn(async move {
                    if let Some(stream) = handshake(&tls, tcp, from).await {
                        let _ = sender.send(PeerStream::Tls(Box::new(stream))).await;
                    }
                });
            }
        }
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
