//! Arbitrary bytes through FrameCodec, ConnectRequest, and RequestHeader + Request::decode
//! for every opcode; whatever decodes must re-encode and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zk_proto_fuzz::check_request_input(data));
