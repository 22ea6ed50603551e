//! A byte stream cut into frames in small chunks; each frame decoded as a handshake record,
//! a request and a reply to every opcode, with the same re-encoding property.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_proto_fuzz::check_frame_input(data));
