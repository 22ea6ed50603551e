//! Errors of the connection manager.

use thiserror::Error;

/// Why the connection manager could not start.
#[derive(Debug, Error)]
pub enum CnxError {
    /// The election address could not be bound (after the configured retries).
    #[error("cannot listen on election address {address}: {source}")]
    Bind {
        /// The address as configured.
        address: String,
        /// The last bind error.
        #[source]
        source: std::io::Error,
    },
    /// A listener handed over by the caller could not be used.
    #[error("unusable election listener: {0}")]
    Listener(#[source] std::io::Error),
}

/// Why one dial attempt failed (logged, then retried with backoff).
#[derive(Debug, Error)]
pub(crate) enum DialError {
    /// The peer address does not form a valid URI.
    #[error("invalid peer address {address:?}: {source}")]
    Address {
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// TCP/HTTP2 connection failure.
    #[error("cannot connect: {0}")]
    Connect(#[source] tonic::transport::Error),
    /// The peer answered the stream with an error (e.g. it refused our sid).
    #[error("peer refused the stream: {0}")]
    Refused(#[source] tonic::Status),
    /// The connection or the handshake took too long.
    #[error("timed out")]
    Timeout,
}
