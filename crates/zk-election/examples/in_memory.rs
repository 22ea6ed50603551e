//! Elects a leader among five in-process peers over the in-memory transport.
//!
//! `cargo run -p zk-election --example in_memory`

use zk_election::driver::{self, InMemoryNetwork};
use zk_election::{Election, InitialVote, QuorumConfig, QuorumVerifier, make_zxid};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sids = [1, 2, 3, 4, 5];
    let config = QuorumConfig::new(QuorumVerifier::majority(sids));
    let network = InMemoryNetwork::new();
    let handles: Vec<_> = sids
        .iter()
        .map(|&sid| driver::spawn(Election::new(sid, config.clone()), network.join(sid)))
        .collect();

    // Everyone is in epoch 1; peer 3 logged the most transactions, so it must win.
    // `look_for_leader` starts looking at once; the futures only wait for the decisions.
    let pending: Vec<_> = handles
        .iter()
        .zip(sids)
        .map(|(handle, sid)| {
            let counter = if sid == 3 { 42 } else { 10 + sid as u32 };
            handle.look_for_leader(InitialVote {
                last_logged_zxid: make_zxid(1, counter),
                current_epoch: 1,
            })
        })
        .collect();
    for (sid, decision) in sids.iter().zip(pending) {
        let d = decision.await?;
        println!(
            "peer {sid}: {:?}, leader {} (round {}, supported by {:?})",
            d.state, d.vote.leader, d.vote.election_epoch, d.supporters
        );
    }
    for handle in handles {
        handle.shutdown().await;
    }
    Ok(())
}
