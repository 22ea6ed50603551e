//! The small HTTP servers beside the client port (the AdminServer, the Prometheus endpoint):
//! bound on start-up, served in the background, and kept from taking what the client port
//! needs. A port that cannot be bound is logged and the server runs on without it, as
//! ZooKeeper does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// How long a connection may take to send a request's headers (`admin.idleTimeout`'s default);
/// an idle keep-alive connection is closed after as long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once; further ones wait in the listen backlog, so a flood of them
/// cannot take the file descriptors the client port needs.
const MAX_CONNECTIONS: usize = 64;

/// Binds `addr` and answers every request with `respond` in the background; `name` is for the
/// logs.
pub async fn spawn<F>(name: &'static str, addr: &str, respond: F)
where
    F: Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%addr, %error, "{name} not started; serving clients without it");
            return;
        }
    };
    match listener.local_addr() {
        Ok(local) => tracing::info!(addr = %local, "{name} listening"),
        Err(_) => tracing::info!(%addr, "{name} listening"),
    }
    tokio::spawn(accept_loop(name, listener, Arc::new(respond)));
}

async fn accept_loop<F>(name: &'static str, listener: TcpListener, respond: Arc<F>)
where
    F: Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "{name} accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let respond = respond.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&request);
                async move { Ok::<_, Infallible>(response) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "{name} connection ended");
            }
            drop(slot);
        });
    }
}
