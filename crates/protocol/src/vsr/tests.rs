use super::*;
use crate::codes;
use crate::test_support::hex;
use proptest::prelude::*;

/// The login body SDK 0.11.0 sends for iggy/iggy (../shared/protocol-vectors-0.11.txt).
const SDK_LOGIN_BODY: &str = include_str!("../requests/sdk_login_register_0.11.hex");

fn u32_of(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_of(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn u128_of(bytes: &[u8], at: usize) -> u128 {
    u128::from_le_bytes(bytes[at..at + 16].try_into().unwrap())
}

fn sample_request() -> RequestHeader {
    RequestHeader {
        size: 300,
        client: 0x1111_2222_3333_4444_5555_6666_7777_8888,
        request_checksum: 0x99,
        timestamp: 0xaa,
        request: 7,
        operation: Operation::NonReplicated as u8,
        session: 42,
        user_id: 5,
        non_replicated_code: codes::GET_STREAM,
        ..RequestHeader::default()
    }
}

#[test]
fn request_fields_sit_at_the_offsets_the_sdk_uses() {
    let bytes = sample_request().encode();
    assert_eq!(u32_of(&bytes, 48), 300, "size");
    assert_eq!(bytes[60], 5, "command Request");
    assert_eq!(u128_of(&bytes, 128), 0x1111_2222_3333_4444_5555_6666_7777_8888, "client");
    assert_eq!(u128_of(&bytes, 144), 0x99, "request_checksum");
    assert_eq!(u64_of(&bytes, 160), 0xaa, "timestamp");
    assert_eq!(u64_of(&bytes, 168), 7, "request");
    assert_eq!(bytes[176], 2, "operation");
    assert_eq!(u64_of(&bytes, 184), 42, "session");
    assert_eq!(u32_of(&bytes, 192), 5, "user_id");
    assert_eq!(u32_of(&bytes, 196), 200, "reserved[0..4] = command code");
    assert!(bytes[..48].iter().all(|&b| b == 0), "checksums and cluster stay zero");
    assert!(bytes[200..].iter().all(|&b| b == 0));
    let parsed = RequestHeader::parse(&bytes).unwrap();
    assert_eq!(parsed, sample_request());
    assert_eq!(parsed.body_len(), 44);
    assert_eq!(parsed.command_code(), Ok(codes::GET_STREAM));
}

/// The login request SDK 0.11.0 sent to the mock (protocol.md §9.1, captured header).
fn captured_login() -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_SIZE];
    frame[48..52].copy_from_slice(&290u32.to_le_bytes());
    frame[60] = 5;
    frame[128..144].copy_from_slice(&hex("cc93d3bf67a04795b41877912a94d395"));
    frame[144..160].copy_from_slice(&hex("95803f2a3c20de8f0000000000000000"));
    frame[176] = 1;
    frame.extend_from_slice(&hex(SDK_LOGIN_BODY));
    frame
}

#[test]
fn the_captured_login_header_parses_and_its_checksum_covers_the_body() {
    let frame = captured_login();
    assert_eq!(frame_size(&frame), Ok(290));
    let header = RequestHeader::parse(&frame).unwrap();
    assert_eq!(header.body_len(), 34);
    assert_eq!((header.request, header.session), (0, 0));
    assert_eq!(header.validate(), Ok(Operation::Register));
    assert_eq!(header.command_code(), Ok(codes::LOGIN_REGISTER));
    assert_eq!(header.verify_request_checksum(&frame[HEADER_SIZE..]), Ok(()));
    assert_eq!(header.verify_request_checksum(b"other"), Err(FrameError::RequestChecksum));
    assert_eq!(FrameError::RequestChecksum.code(), ErrorCode::InvalidFormat);
    let unstamped = RequestHeader { request_checksum: 0, ..header };
    assert_eq!(unstamped.verify_request_checksum(b"anything"), Ok(()));
}

#[test]
fn reply_echoes_the_request_at_the_reply_offsets() {
    let request = sample_request();
    let bytes = encode_reply_header(&request, 0, 31, 9);
    assert_eq!(u32_of(&bytes, 48), 287, "size = 256 + body");
    assert_eq!(bytes[60], 8, "command Reply");
    assert_eq!(u128_of(&bytes, 128), 0x99, "request_checksum echoed");
    assert_eq!(u128_of(&bytes, 144), 0, "context");
    assert_eq!(u128_of(&bytes, 160), request.client, "client echoed");
    assert_eq!(u64_of(&bytes, 176), 42, "op carries the session, as the reference server does");
    assert_eq!(u64_of(&bytes, 184), 9, "commit");
    assert_eq!(u64_of(&bytes, 192), 0xaa, "timestamp echoed");
    assert_eq!(u64_of(&bytes, 200), 7, "request echoed");
    assert_eq!(bytes[208], 2, "operation echoed");
    assert_eq!(u32_of(&bytes, 216), 0, "status");
    assert!(bytes[209..216].iter().chain(&bytes[220..]).all(|&b| b == 0));
    assert!(bytes[..48].iter().chain(&bytes[62..128]).all(|&b| b == 0));

    let denied = encode_reply_header(&request, ErrorCode::StreamIdNotFound.as_u32(), 0, 9);
    let parsed = ReplyHeader::parse(&denied).unwrap();
    assert_eq!((parsed.status, parsed.size, parsed.body_len()), (1009, 256, 0));
    assert_eq!(parsed, ReplyHeader::for_request(&request, 1009, 0, 9));
}

#[test]
fn a_deny_for_an_undeclared_operation_still_echoes_its_byte() {
    let mut bytes = sample_request().encode();
    bytes[176] = 99;
    let header = RequestHeader::parse(&bytes).unwrap();
    assert_eq!(header.operation(), Err(FrameError::UnknownOperation { value: 99 }));
    let reply = encode_reply_header(&header, ErrorCode::InvalidCommand.as_u32(), 0, 0);
    assert_eq!(reply[208], 99);
}

#[test]
#[should_panic(expected = "must have an empty body")]
fn an_error_reply_with_a_body_is_a_bug() {
    encode_reply_header(&sample_request(), 3, 4, 0);
}

#[test]
fn eviction_fields_and_the_errors_the_sdk_makes_of_them() {
    let bytes = encode_eviction(77, EvictionReason::IncompatibleProtocol, Some(PROTOCOL_WINDOW));
    assert_eq!((u32_of(&bytes, 48), bytes[60]), (256, 13));
    assert_eq!(u128_of(&bytes, 128), 77);
    assert_eq!((u32_of(&bytes, 144), u32_of(&bytes, 148)), (0x2c00, 0x2c00));
    assert_eq!(bytes[255], 14);
    assert!(bytes[152..255].iter().all(|&b| b == 0));
    let eviction = EvictionHeader::parse(&bytes).unwrap();
    assert_eq!(eviction.error_code(), ErrorCode::IncompatibleProtocolVersion);
    let without_window = EvictionHeader::parse(&encode_eviction(77, EvictionReason::IncompatibleProtocol, None));
    assert_eq!(without_window.unwrap().error_code(), ErrorCode::Unauthenticated, "degenerate window");

    let expected = [
        (EvictionReason::NoSession, ErrorCode::Unauthenticated),
        (EvictionReason::InvalidRequestBody, ErrorCode::InvalidCommand),
        (EvictionReason::InvalidCredentials, ErrorCode::InvalidCredentials),
        (EvictionReason::InvalidToken, ErrorCode::InvalidPersonalAccessToken),
        (EvictionReason::UserInactive, ErrorCode::Unauthenticated),
        (EvictionReason::StaleClient, ErrorCode::StaleClient),
        (EvictionReason::MalformedLogin, ErrorCode::InvalidFormat),
    ];
    for (reason, code) in expected {
        let bytes = encode_eviction(1, reason, None);
        assert_eq!(u32_of(&bytes, 144), 0);
        let parsed = EvictionHeader::parse(&bytes).unwrap();
        assert_eq!((parsed.reason, parsed.error_code()), (reason, code));
    }
    for value in 0..=255u8 {
        assert_eq!(EvictionReason::from_u8(value).map(|r| r as u8), (1..=15).contains(&value).then_some(value));
    }
    assert_eq!(peek_command(&bytes), Ok(Command::Eviction));
    assert!(matches!(ReplyHeader::parse(&bytes), Err(FrameError::UnexpectedCommand { found: 13, .. })));
}

#[test]
fn headers_with_bad_framing_are_refused() {
    let good = sample_request().encode();
    assert_eq!(RequestHeader::parse(&good[..255]), Err(FrameError::ShortHeader { length: 255 }));
    let mut reply_shaped = good;
    reply_shaped[60] = 8;
    assert_eq!(
        RequestHeader::parse(&reply_shaped),
        Err(FrameError::UnexpectedCommand { found: 8, expected: Command::Request })
    );
    let mut small = good;
    small[48..52].copy_from_slice(&255u32.to_le_bytes());
    assert_eq!(RequestHeader::parse(&small), Err(FrameError::SizeTooSmall { size: 255 }));
    let mut large = good;
    large[48..52].copy_from_slice(&(MAX_FRAME_SIZE + 1).to_le_bytes());
    assert!(matches!(RequestHeader::parse(&large), Err(FrameError::SizeTooLarge { .. })));
    let mut large_reply = encode_reply_header(&sample_request(), 0, 0, 0);
    large_reply[48..52].copy_from_slice(&(MAX_FRAME_SIZE + 1).to_le_bytes());
    assert_eq!(ReplyHeader::parse(&large_reply).map(|reply| reply.size), Ok(MAX_FRAME_SIZE + 1), "no cap on replies");
    large_reply[48..52].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(ReplyHeader::parse(&large_reply), Err(FrameError::SizeTooSmall { size: 100 }));
    let mut replica = good;
    replica[60] = 1;
    assert_eq!(peek_command(&replica), Err(FrameError::UnknownCommand { found: 1 }));
}

#[test]
fn session_rules_follow_the_reference_server() {
    let base = RequestHeader { client: 1, size: 256, ..RequestHeader::default() };
    let with = |operation: Operation, session: u64, request: u64| {
        RequestHeader { operation: operation as u8, session, request, ..base }.validate()
    };
    assert_eq!(with(Operation::NonReplicated, 0, 0), Ok(Operation::NonReplicated), "PING before login");
    assert_eq!(with(Operation::Register, 0, 0), Ok(Operation::Register));
    assert_eq!(with(Operation::Register, 3, 0), Err(FrameError::RegisterNotFresh { session: 3, request: 0 }));
    let missing = with(Operation::CreateStream, 0, 1).unwrap_err();
    assert_eq!(
        (missing.clone(), missing.code()),
        (FrameError::MissingSession { operation: Operation::CreateStream }, ErrorCode::Unauthenticated)
    );
    assert_eq!(
        with(Operation::SendMessages, 5, 0),
        Err(FrameError::MissingRequestNumber { operation: Operation::SendMessages })
    );
    assert_eq!(with(Operation::Logout, 5, 3), Ok(Operation::Logout));
    let zero_client = RequestHeader { client: 0, ..base };
    assert_eq!(RequestHeader { operation: 2, ..zero_client }.validate(), Err(FrameError::ZeroClient));
    assert_eq!(RequestHeader { operation: 0, ..base }.validate(), Err(FrameError::ReservedOperation));
}

#[test]
fn operations_match_the_reference_table() {
    for value in 0..=255u8 {
        match Operation::from_u8(value) {
            Ok(operation) => assert_eq!(operation.as_u8(), value),
            Err(FrameError::ReservedOperation) => assert_eq!(value, 0),
            Err(FrameError::InternalOperation { .. }) => assert!((64..=68).contains(&value)),
            Err(error) => assert_eq!(error, FrameError::UnknownOperation { value }),
        }
    }
    assert_eq!(Operation::ALL.len(), 28);
    let header = RequestHeader::default();
    for operation in Operation::ALL {
        let code = operation.command_code(&header);
        if operation != Operation::NonReplicated {
            assert!(codes::name_of(code).is_some(), "{operation:?} has no code");
            assert_eq!(Operation::for_command(code), operation);
        }
    }
    assert_eq!(Operation::for_command(codes::LOGIN_REGISTER_WITH_PAT), Operation::Register);
    assert_eq!(Operation::for_command(codes::POLL_MESSAGES), Operation::NonReplicated);
    assert_eq!(Operation::for_command(codes::SYNC_CONSUMER_GROUP), Operation::NonReplicated);
    assert_eq!(Operation::for_command(9999), Operation::NonReplicated, "unknown codes ride NonReplicated");
    assert_eq!(Operation::CreateTopic.command_code(&header), codes::CREATE_TOPIC);
    assert_eq!(Operation::DeleteConsumerOffset.command_code(&header), codes::DELETE_CONSUMER_OFFSET);
}

#[test]
fn result_framing_follows_trap_5() {
    let framed: Vec<Operation> = Operation::ALL.into_iter().filter(|op| op.is_result_framed()).collect();
    for not_framed in [Operation::SendMessages, Operation::DeleteSegments, Operation::Logout, Operation::NonReplicated]
    {
        assert!(!framed.contains(&not_framed), "{not_framed:?}");
    }
    assert_eq!(framed.len(), 28 - 4);
    assert!(Operation::StoreConsumerOffset.is_result_framed());
    assert!(Operation::JoinConsumerGroup.is_result_framed());
    assert!(Operation::Register.reply_is_result_framed(31));
    assert!(!Operation::Register.reply_is_result_framed(0));
    assert!(!Operation::DeleteSegments.is_metadata());
    assert!(!Operation::NonReplicated.consumes_request_number());
    assert!(Operation::SendMessages.consumes_request_number());
    assert!(Operation::DeleteSegments.stamps_request_checksum());
    assert!(!Operation::SendMessages.stamps_request_checksum());
}

#[test]
fn the_version_gate_accepts_only_0_11() {
    assert_eq!(SERVER_PROTOCOL_VERSION, 0x2c00);
    assert_eq!(SERVER_PROTOCOL_VERSION, 11264);
    assert_eq!(unpack(pack(3, 1023, 7)), (3, 1023, 7));
    assert!(is_compatible(pack(0, 11, 0)));
    assert!(is_compatible(pack(0, 11, 9)), "patch is ignored");
    assert!(!is_compatible(pack(0, 12, 2)), "iggy-cli 0.14.1-edge (trap 18)");
    assert!(!is_compatible(pack(0, 10, 0)));
    assert!(!is_compatible(pack(1, 0, 0)));
    assert!(!is_compatible(0));
}

fn request_header() -> impl Strategy<Value = RequestHeader> {
    (
        (any::<u128>(), 256u32..=MAX_FRAME_SIZE, any::<u32>(), any::<u32>(), any::<u8>()),
        (
            any::<u128>(),
            any::<u128>(),
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
        ),
    )
        .prop_map(|((cluster, size, view, release, replica), rest)| {
            let (client, request_checksum, timestamp, request, operation, session, user_id, non_replicated_code) = rest;
            RequestHeader {
                cluster,
                size,
                view,
                release,
                replica,
                client,
                request_checksum,
                timestamp,
                request,
                operation,
                session,
                user_id,
                non_replicated_code,
            }
        })
}

proptest! {
    #[test]
    fn header_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = peek_command(&bytes);
        let _ = frame_size(&bytes);
        if let Ok(header) = RequestHeader::parse(&bytes) {
            let _ = header.validate();
            let _ = header.command_code();
        }
        let _ = ReplyHeader::parse(&bytes);
        if let Ok(eviction) = EvictionHeader::parse(&bytes) {
            let _ = eviction.error_code();
        }
    }

    #[test]
    fn request_headers_round_trip(header in request_header()) {
        prop_assert_eq!(RequestHeader::parse(&header.encode()), Ok(header));
    }

    #[test]
    fn replies_round_trip(header in request_header(), status in any::<u32>(), body_len in 0usize..1_000_000, commit in any::<u64>()) {
        let body_len = if status == 0 { body_len } else { 0 };
        let reply = ReplyHeader::for_request(&header, status, body_len, commit);
        prop_assert_eq!(ReplyHeader::parse(&reply.encode()), Ok(reply));
        prop_assert_eq!(reply.body_len(), body_len);
    }
}
