use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::error::DecodeError;
use crate::jute::arb::ArbField;
use crate::jute::{Decode, Reader, to_bytes};
use crate::test_util::{assert_prefixes_fail, assert_redecodes, assert_round_trip};

/// Calls `$check!(Type)` for every record whose fields are all mandatory.
macro_rules! plain_records {
    ($check:ident) => {
        $check! {
            Id, Acl, Stat, ClientInfo, RequestHeader, ReplyHeader, WatcherEvent, AuthPacket,
            ErrorResponse, MultiHeader, SetWatches, SetWatches2, GetSaslRequest, SetSaslResponse,
            WhoAmIResponse, CreateRequest, CreateTtlRequest, CreateResponse, Create2Response,
            DeleteRequest, ExistsRequest, ExistsResponse, GetDataRequest, GetDataResponse,
            SetDataRequest, SetDataResponse, GetAclRequest, GetAclResponse, SetAclRequest,
            SetAclResponse, GetChildrenRequest, GetChildrenResponse, GetChildren2Request,
            GetChildren2Response, GetAllChildrenNumberRequest, GetAllChildrenNumberResponse,
            CheckVersionRequest, SyncRequest, SyncResponse, ReconfigRequest, AddWatchRequest,
            CheckWatchesRequest, RemoveWatchesRequest, GetEphemeralsRequest,
            GetEphemeralsResponse
        }
    };
}

macro_rules! round_trip_and_prefixes {
    ($($ty:ident),*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            $(
                #[test]
                fn $ty(value in <$ty as ArbField>::arb()) {
                    let bytes = assert_round_trip(&value);
                    assert_prefixes_fail::<$ty>(&bytes);
                }
            )*
        }
    };
}

#[allow(non_snake_case)]
mod round_trip {
    use super::*;
    plain_records!(round_trip_and_prefixes);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn ConnectRequest_(value in ConnectRequest::arb()) {
            assert_round_trip(&value);
        }

        #[test]
        fn ConnectResponse_(value in ConnectResponse::arb()) {
            assert_round_trip(&value);
        }

        #[test]
        fn DeleteContainerRequest_(value in DeleteContainerRequest::arb()) {
            assert_round_trip(&value);
        }
    }
}

macro_rules! decode_all {
    ($($ty:ident),*) => {
        fn decode_every_record(bytes: &[u8]) {
            $( let _ = assert_redecodes::<$ty>(bytes); )*
            let _ = assert_redecodes::<ConnectRequest>(bytes);
            let _ = assert_redecodes::<ConnectResponse>(bytes);
            let _ = assert_redecodes::<DeleteContainerRequest>(bytes);
        }
    };
}
plain_records!(decode_all);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        decode_every_record(&bytes);
    }

    /// Mostly-valid input reaches deeper: small lengths and counts, valid booleans.
    #[test]
    fn structured_noise_never_panics(
        words in proptest::collection::vec(prop_oneof![Just(-1i32), 0..4i32, any::<i32>()], 0..24)
    ) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        decode_every_record(&bytes);
        decode_every_record(&bytes[bytes.len().min(3)..]);
    }
}

#[test]
fn stat_is_68_bytes_in_field_order() {
    let stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };
    let bytes = to_bytes(&stat);
    assert_eq!(bytes.len(), Stat::WIRE_SIZE);
    let offsets = [
        (0, 8),
        (8, 8),
        (16, 8),
        (24, 8),
        (32, 4),
        (36, 4),
        (40, 4),
        (44, 8),
        (52, 4),
        (56, 4),
        (60, 8),
    ];
    for (index, (offset, size)) in offsets.into_iter().enumerate() {
        let field = &bytes[offset..offset + size];
        let value = field.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        assert_eq!(value, index as u64 + 1, "field {index} at offset {offset}");
    }
}

#[test]
fn connect_request_without_read_only_is_an_old_client() {
    let old = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout: 30_000,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: None,
    };
    let bytes = assert_round_trip(&old);
    assert_eq!(bytes.len(), 44);
    let new = ConnectRequest {
        read_only: Some(true),
        ..old.clone()
    };
    let bytes = assert_round_trip(&new);
    assert_eq!(bytes.len(), 45);
    assert_eq!(bytes[44], 1);
    // Bytes after readOnly are ignored.
    let mut long = bytes.to_vec();
    long.extend_from_slice(b"junk");
    assert_eq!(
        ConnectRequest::decode(&mut Reader::new(long.into())),
        Ok(new)
    );
    // A readOnly byte other than 0/1 is refused.
    let mut bad = bytes.to_vec();
    bad[44] = 7;
    assert_eq!(
        ConnectRequest::decode(&mut Reader::new(bad.into())),
        Err(DecodeError::InvalidBool(7))
    );
    // A null password is refused, naming the field.
    let mut null_passwd = bytes[..24].to_vec();
    null_passwd.extend_from_slice(&[0xff; 4]);
    assert_eq!(
        ConnectRequest::decode(&mut Reader::new(null_passwd.into())),
        Err(DecodeError::NullNotAllowed {
            field: "ConnectRequest.passwd"
        })
    );
    // Truncated anywhere before the end of passwd: refused.
    for cut in 0..44 {
        assert!(
            ConnectRequest::decode(&mut Reader::new(bytes.slice(..cut))).is_err(),
            "{cut}"
        );
    }
}

#[test]
fn connect_response_for_an_old_client_has_no_read_only_byte() {
    let response = ConnectResponse {
        protocol_version: 0,
        timeout: 30_000,
        session_id: 0x0100_0a1b_2c3d_0000,
        passwd: Bytes::from_static(&[7; 16]),
        read_only: None,
    };
    assert_eq!(assert_round_trip(&response).len(), 36);
    assert_eq!(
        assert_round_trip(&ConnectResponse {
            read_only: Some(false),
            ..response
        })
        .len(),
        37
    );
}

#[test]
fn null_paths_are_refused_with_the_field_name() {
    let null_path = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert_eq!(
        DeleteRequest::decode(&mut Reader::new(Bytes::copy_from_slice(&null_path))),
        Err(DecodeError::NullNotAllowed {
            field: "DeleteRequest.path"
        })
    );
    assert_eq!(
        SyncRequest::decode(&mut Reader::new(Bytes::copy_from_slice(&null_path))),
        Err(DecodeError::NullNotAllowed {
            field: "SyncRequest.path"
        })
    );
    // Where clients may send null, null is kept.
    let id = Id::decode(&mut Reader::new(Bytes::from_static(&[
        0, 0, 0, 4, b'a', b'u', b't', b'h', 0xff, 0xff, 0xff, 0xff,
    ])));
    assert_eq!(
        id,
        Ok(Id {
            scheme: Some("auth".into()),
            id: None
        })
    );
    let ephemerals = GetEphemeralsRequest::decode(&mut Reader::new(Bytes::from_static(&[0xff; 4])));
    assert_eq!(ephemerals, Ok(GetEphemeralsRequest { prefix_path: None }));
}

#[test]
fn node_data_keeps_null_and_empty_apart() {
    for data in [None, Some(Bytes::new()), Some(Bytes::from_static(b"x"))] {
        let req = SetDataRequest {
            path: "/a".into(),
            data: data.clone(),
            version: -1,
        };
        let bytes = assert_round_trip(&req);
        let expected_len: &[u8] = match &data {
            None => &[0xff; 4],
            Some(d) if d.is_empty() => &[0; 4],
            Some(_) => &[0, 0, 0, 1],
        };
        assert_eq!(&bytes[6..10], expected_len);
    }
}

#[test]
fn null_vectors_read_as_empty() {
    let bytes = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        GetChildrenResponse::decode(&mut Reader::new(bytes)),
        Ok(GetChildrenResponse { children: vec![] })
    );
}

#[test]
fn mode_helpers_check_the_numbers() {
    let create = CreateRequest {
        path: "/a".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 3,
    };
    assert_eq!(
        create.create_mode(),
        Ok(crate::CreateMode::EphemeralSequential)
    );
    assert!(CreateRequest { flags: 7, ..create }.create_mode().is_err());
    assert_eq!(
        AddWatchRequest {
            path: "/".into(),
            mode: 1
        }
        .add_watch_mode(),
        Ok(crate::AddWatchMode::PersistentRecursive)
    );
    assert!(
        AddWatchRequest {
            path: "/".into(),
            mode: 7
        }
        .add_watch_mode()
        .is_err()
    );
    assert_eq!(
        RemoveWatchesRequest {
            path: "/".into(),
            watcher_type: 5
        }
        .watcher_kind(),
        Ok(crate::WatcherType::PersistentRecursive)
    );
    assert!(
        CheckWatchesRequest {
            path: "/".into(),
            watcher_type: 0
        }
        .watcher_kind()
        .is_err()
    );
}

#[test]
fn delete_container_picks_the_layout() {
    let decode = |bytes: &[u8]| {
        DeleteContainerRequest::decode(&mut Reader::new(Bytes::copy_from_slice(bytes)))
    };
    assert_eq!(
        decode(b"\0\0\0\x02/c"),
        Ok(DeleteContainerRequest {
            path: "/c".into(),
            layout: DeleteContainerLayout::LengthPrefixed
        })
    );
    assert_eq!(
        decode(b"/container"),
        Ok(DeleteContainerRequest {
            path: "/container".into(),
            layout: DeleteContainerLayout::Raw
        })
    );
    assert_eq!(
        decode(b"/c"),
        Ok(DeleteContainerRequest {
            path: "/c".into(),
            layout: DeleteContainerLayout::Raw
        })
    );
    assert_eq!(
        decode(b""),
        Ok(DeleteContainerRequest {
            path: String::new(),
            layout: DeleteContainerLayout::Raw
        })
    );
    // A length that does not match the rest of the body: the body is a raw path.
    assert_eq!(
        decode(b"\0\0\0\x05/c"),
        Ok(DeleteContainerRequest {
            path: "\0\0\0\x05/c".into(),
            layout: DeleteContainerLayout::Raw
        })
    );
    assert_eq!(decode(&[0xc3, 0x28]), Err(DecodeError::InvalidUtf8));
    assert_eq!(
        decode(&[0, 0, 0, 2, 0xc3, 0x28]),
        Err(DecodeError::InvalidUtf8)
    );
    for request in [
        DeleteContainerRequest {
            path: "/x/y".into(),
            layout: DeleteContainerLayout::Raw,
        },
        DeleteContainerRequest {
            path: "/x/y".into(),
            layout: DeleteContainerLayout::LengthPrefixed,
        },
    ] {
        assert_round_trip(&request);
    }
}
