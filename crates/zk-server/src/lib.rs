//! A ZooKeeper-compatible server: the client-facing side (listener, sessions, data tree, watches,
//! ACLs, four-letter words) over zk-txnlog for durability.
//!
//! The request path, end to end: [`conn`] reads a frame and keeps the session's requests in
//! order; reads are answered from the committed tree ([`reads`]); writes go to [`pipeline`],
//! which checks them ([`prep`]) against the tree as every earlier write leaves it, logs them with
//! group commit, and publishes the new tree ([`db`]) and its watch events ([`watch`]) once the log
//! record is durable. In an ensemble, zk-peer's ZAB carries the transactions between members:
//! a leader proposes them, learners forward their writes and apply commits ([`replica`]).

pub mod acl;
pub mod admin;
pub mod audit;
pub mod commands;
pub mod config;
pub mod conn;
pub mod db;
pub mod digest;
pub mod ensemble;
pub mod export;
pub mod fourlw;
pub mod http;
pub mod import;
pub mod json;
pub mod metrics;
pub mod path;
pub mod pending;
pub mod pipeline;
pub mod prep;
pub mod quota;
pub mod reads;
pub mod reconfig;
pub mod replica;
pub mod report;
pub mod sasl;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod stats;
pub mod storage;
pub mod tls;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod x509;
pub mod zookeeper_files;

pub use config::Config;
pub use server::Server;
