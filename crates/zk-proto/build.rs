//! Generates `zk_proto::peer` from the workspace's `proto/zk_peer.proto` when the `peer`
//! feature is on. The .proto is parsed by `protox` (pure Rust) so that no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "peer")]
    generate_peer()?;
    Ok(())
}

#[cfg(feature = "peer")]
fn generate_peer() -> Result<(), Box<dyn std::error::Error>> {
    use std::path::PathBuf;

    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let proto_file = proto_dir.join("zk_peer.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_dir])?;
    // No `XClient::connect(address)` constructors: they would clash with the `Election.Connect`
    // rpc, and callers build their own `Endpoint` anyway (timeouts, TCP_NODELAY).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        // Transactions and snapshot chunks pass through without copies.
        .bytes(".zk.peer.v1")
        .compile_fds(descriptors)?;
    Ok(())
}
