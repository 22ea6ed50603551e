//! Shared test support: the deterministic simulator.
pub mod sim;
