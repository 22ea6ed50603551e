//! ZooKeeper's election connection manager (`QuorumCnxManager`, spec §3) over gRPC.
//!
//! Every pair of servers shares one bidirectional `Election.Connect` stream
//! (`zk_proto::peer`). The dialler's first frame is a hello with its sid and election
//! address; streams from unknown sids are refused, and only streams dialled by the larger
//! sid survive: a smaller sid dials only to make the larger one dial back (§3.3). A newer
//! stream from the same peer replaces the older one.
//!
//! Outgoing messages wait in a per-peer slot of capacity one (newer replaces older, §3.4);
//! a new link re-sends the last message sent (§3.5). Messages to ourselves are looped back.
//! Received messages go to one bounded queue that drops its oldest entry when full.
//!
//! * [`CnxManager`]: start/stop, [`CnxManager::connected_peers`], [`CnxManager::stats`];
//! * [`CnxHandle`]: `send`, `connect_all`, `have_delivered`;
//! * [`Inbox`]: `recv` (the receive queue);
//! * [`ElectionTransport`]: both, as a `zk_election::driver::Transport`.

mod acceptor;
mod backoff;
mod challenge;
pub mod config;
pub mod convert;
mod dialer;
mod error;
mod handshake;
pub mod incoming;
mod link;
mod manager;
mod peer;
mod queue;
mod shared;
pub mod tls;
mod tls_settings;
mod transport;

pub use config::{CnxConfig, CnxOptions, DEFAULT_MAX_MESSAGE_SIZE};
pub use error::CnxError;
pub use manager::{CnxHandle, CnxManager, Inbox};
pub use shared::CnxStats;
pub use tls::{PeerTls, PeerTlsSettings};
pub use tls_settings::{ClientAuth, TlsChoice};
pub use transport::ElectionTransport;

/// The README's example, compiled as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
#[derive(Debug)]
pub struct ReadmeDoctests;
