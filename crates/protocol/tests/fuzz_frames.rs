//! Fuzz targets for the frame headers of both dialects: the 256-byte VSR request, reply and
//! eviction headers with the size and command checks in front of them (protocol.md §3.1),
//! and the 8-byte legacy request and response headers with their size caps (§3.2).
//!
//! A longer campaign:
//! `WHIPPET_FUZZ_CASES=1000000 cargo test -p whippet-protocol --release --test fuzz_frames`
//! (see FUZZING.md).

mod fuzz;

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use whippet_protocol::codes;
use whippet_protocol::legacy::{
    LegacyRequestHeader, LegacyResponseHeader, MAX_CONTROL_PAYLOAD_SIZE, encode_error_header, encode_ok_header,
    encode_response_header, payload_cap,
};
use whippet_protocol::status::ErrorCode;
use whippet_protocol::vsr::{
    self, Command, EvictionHeader, EvictionReason, HEADER_SIZE, MAX_FRAME_SIZE, Operation, ReplyHeader, RequestHeader,
    encode_eviction,
};

// --- VSR headers (§3.1) ---

/// Header bytes: arbitrary, valid headers of each shape with a body after them, mutated.
fn header_bytes(valid: impl Strategy<Value = Vec<u8>> + 'static) -> impl Strategy<Value = Vec<u8>> {
    let any_header = prop::collection::vec(fuzz::inputs::byte(), HEADER_SIZE..HEADER_SIZE + 64);
    prop_oneof![1 => any_header, 4 => fuzz::fuzzed(valid)]
}

fn operation_byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => prop::sample::select(Operation::ALL.map(Operation::as_u8).to_vec()), 1 => any::<u8>()]
}

fn request_header() -> impl Strategy<Value = RequestHeader> {
    let frame = (any::<u128>(), HEADER_SIZE as u32..=MAX_FRAME_SIZE, any::<u32>(), any::<u32>(), any::<u8>());
    let request = (any::<u128>(), any::<u128>(), any::<u64>(), any::<u64>(), operation_byte(), any::<u64>());
    (frame, request, any::<u32>(), any::<u32>()).prop_map(
        |(
            (cluster, size, view, release, replica),
            (client, request_checksum, timestamp, request, operation, session),
            user_id,
            non_replicated_code,
        )| RequestHeader {
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
        },
    )
}

fn reply_header() -> impl Strategy<Value = ReplyHeader> {
    let frame = (any::<u128>(), HEADER_SIZE as u32.., any::<u32>(), any::<u32>(), any::<u8>());
    let echo = (any::<u128>(), any::<u128>(), any::<u128>(), any::<u64>(), any::<u64>(), any::<u64>());
    (frame, echo, any::<u64>(), any::<u8>(), any::<u32>()).prop_map(
        |(
            (cluster, size, view, release, replica),
            (request_checksum, context, client, op, commit, timestamp),
            request,
            operation,
            status,
        )| ReplyHeader {
            cluster,
            size,
            view,
            release,
            replica,
            request_checksum,
            context,
            client,
            op,
            commit,
            timestamp,
            request,
            operation,
            status,
        },
    )
}

fn eviction_reason() -> impl Strategy<Value = EvictionReason> {
    (1u8..=15).prop_map(|value| EvictionReason::from_u8(value).unwrap_or(EvictionReason::NoSession))
}

fn eviction_frame() -> impl Strategy<Value = (u128, EvictionReason, Option<(u32, u32)>)> {
    (any::<u128>(), eviction_reason(), prop::option::of(any::<(u32, u32)>()))
}

/// A frame of any shape as it arrives: header, then up to 64 body bytes.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    let body = || prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (request_header(), body()).prop_map(|(header, body)| [&header.encode()[..], &body].concat()),
        (reply_header(), body()).prop_map(|(header, body)| [&header.encode()[..], &body].concat()),
        eviction_frame().prop_map(|(client, reason, window)| encode_eviction(client, reason, window).to_vec()),
    ]
}

/// What any parsed header must satisfy, and what must hold of the checks around it.
fn check_any_header(bytes: &[u8]) -> TestCaseResult {
    let command = vsr::peek_command(bytes);
    let size = vsr::frame_size(bytes);
    if let Ok(size) = size {
        prop_assert!((HEADER_SIZE..=MAX_FRAME_SIZE as usize).contains(&size));
    }
    let request = RequestHeader::parse(bytes);
    if let Ok(header) = &request {
        prop_assert_eq!(&command, &Ok(Command::Request));
        prop_assert_eq!(size, Ok(header.size as usize));
        prop_assert_eq!(header.body_len(), header.size as usize - HEADER_SIZE);
        prop_assert_eq!(RequestHeader::parse(&header.encode()), Ok(*header));
        check_validated(header)?;
        header.command_code().ok();
        let body = &bytes[HEADER_SIZE..];
        prop_assert!(header.request_checksum != 0 || header.verify_request_checksum(body).is_ok());
    }
    if let Ok(header) = ReplyHeader::parse(bytes) {
        prop_assert_eq!(&command, &Ok(Command::Reply));
        prop_assert!(header.size as usize >= HEADER_SIZE);
        prop_assert_eq!(ReplyHeader::parse(&header.encode()), Ok(header));
    }
    if let Ok(header) = EvictionHeader::parse(bytes) {
        prop_assert_eq!(&command, &Ok(Command::Eviction));
        header.error_code();
    }
    Ok(())
}

/// The reference server's header rules, seen from what `validate` accepts.
fn check_validated(header: &RequestHeader) -> TestCaseResult {
    let Ok(operation) = header.validate() else { return Ok(()) };
    prop_assert_eq!(operation.as_u8(), header.operation);
    prop_assert_ne!(header.client, 0);
    match operation {
        Operation::Register => prop_assert_eq!((header.session, header.request), (0, 0)),
        Operation::NonReplicated => {}
        _ => prop_assert!(header.session != 0 && header.request != 0),
    }
    Ok(())
}

mod vsr_headers {
    use super::*;

    #[test]
    fn bad_input_never_panics() {
        fuzz::check(header_bytes(frames()), |bytes| check_any_header(&bytes));
    }

    #[test]
    fn request_headers_round_trip() {
        fuzz::check(request_header(), |header| {
            let bytes = header.encode();
            prop_assert_eq!(vsr::peek_command(&bytes), Ok(Command::Request));
            prop_assert_eq!(vsr::frame_size(&bytes), Ok(header.size as usize));
            prop_assert_eq!(RequestHeader::parse(&bytes), Ok(header));
            check_validated(&header)
        });
    }

    #[test]
    fn reply_headers_round_trip() {
        fuzz::check(reply_header(), |header| {
            let bytes = header.encode();
            prop_assert_eq!(vsr::peek_command(&bytes), Ok(Command::Reply));
            prop_assert_eq!(ReplyHeader::parse(&bytes), Ok(header));
            Ok(())
        });
    }

    /// A reply echoes what the SDK matches it by: client, request number, timestamp,
    /// checksum, operation; the session goes in `op`.
    #[test]
    fn replies_echo_their_request() {
        fuzz::check((request_header(), 0usize..1 << 20, any::<u64>()), |(request, body_len, commit)| {
            let reply = ReplyHeader::parse(&vsr::encode_reply_header(&request, 0, body_len, commit));
            let expected = ReplyHeader {
                cluster: request.cluster,
                size: (HEADER_SIZE + body_len) as u32,
                view: request.view,
                release: request.release,
                replica: request.replica,
                request_checksum: request.request_checksum,
                context: 0,
                client: request.client,
                op: request.session,
                commit,
                timestamp: request.timestamp,
                request: request.request,
                operation: request.operation,
                status: 0,
            };
            prop_assert_eq!(reply, Ok(expected));
            Ok(())
        });
    }

    #[test]
    fn evictions_round_trip() {
        fuzz::check(eviction_frame(), |(client, reason, window)| {
            let parsed = EvictionHeader::parse(&encode_eviction(client, reason, window));
            let (version, version_min) = window.unwrap_or((0, 0));
            let expected = EvictionHeader {
                client,
                reason,
                server_protocol_version: version,
                server_protocol_version_min: version_min,
            };
            prop_assert_eq!(parsed, Ok(expected));
            Ok(())
        });
    }

    /// A request checksum stamped by the client is verified against its body.
    #[test]
    fn stamped_checksums_verify() {
        fuzz::check((request_header(), fuzz::bytes(), any::<u8>()), |(mut header, body, mask)| {
            header.request_checksum = u128::from(xxhash_rust::xxh3::xxh3_64(&body));
            prop_assert!(header.verify_request_checksum(&body).is_ok());
            if header.request_checksum != 0 && !body.is_empty() && mask != 0 {
                let mut changed = body.clone();
                changed[0] ^= mask;
                prop_assert!(header.verify_request_checksum(&changed).is_err());
            }
            Ok(())
        });
    }
}

/// Every operation byte and command code: no panic, and the two directions agree.
#[test]
fn operations_and_codes_agree() {
    let header = RequestHeader::default();
    for value in 0..=u8::MAX {
        if let Ok(operation) = Operation::from_u8(value) {
            assert_eq!(operation.as_u8(), value);
            let code = operation.command_code(&header);
            if operation != Operation::NonReplicated {
                assert_eq!(Operation::for_command(code), operation, "code {code}");
            }
        }
    }
    fuzz::check(any::<u32>(), |code| {
        let operation = Operation::for_command(code);
        let header = RequestHeader { non_replicated_code: code, ..RequestHeader::default() };
        if operation != Operation::Register {
            prop_assert_eq!(operation.command_code(&header), code);
        }
        Ok(())
    });
}

// --- legacy headers (§3.2) ---

/// Eight header bytes with the length field often near its bounds.
fn legacy_header_bytes() -> impl Strategy<Value = [u8; 8]> {
    let code = prop_oneof![Just(codes::SEND_MESSAGES), Just(codes::PING), any::<u32>()];
    prop_oneof![
        any::<[u8; 8]>(),
        (fuzz::inputs::length_u32(), code).prop_map(|(length, code)| {
            let mut bytes = [0u8; 8];
            bytes[..4].copy_from_slice(&length.to_le_bytes());
            bytes[4..].copy_from_slice(&code.to_le_bytes());
            bytes
        }),
    ]
}

fn max_frame_size() -> impl Strategy<Value = u32> {
    prop_oneof![Just(MAX_FRAME_SIZE), Just(0u32), Just(8u32), Just(u32::MAX), fuzz::inputs::length_u32()]
}

mod legacy_headers {
    use super::*;

    /// Any 8 bytes: a parsed request header has a length of at least 4 and writes back the
    /// same bytes; the size check never lets a payload past its command's cap.
    #[test]
    fn bad_input_never_panics() {
        fuzz::check((legacy_header_bytes(), max_frame_size()), |(bytes, max_frame_size)| {
            match LegacyRequestHeader::parse(&bytes) {
                Ok(header) => {
                    prop_assert!(header.length >= 4);
                    prop_assert_eq!(header.encode(), bytes);
                    let cap = payload_cap(header.code, max_frame_size);
                    prop_assert!(cap <= max_frame_size.saturating_sub(8));
                    prop_assert!(header.code == codes::SEND_MESSAGES || cap <= MAX_CONTROL_PAYLOAD_SIZE);
                    prop_assert_eq!(header.check_size(max_frame_size).is_ok(), header.payload_len() <= cap);
                }
                Err(_) => prop_assert!(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) < 4),
            }
            let response = LegacyResponseHeader::parse(&bytes);
            let body_len = response.body_len();
            prop_assert!(body_len == 0 || (response.status == 0 && body_len == response.length && body_len > 1));
            Ok(())
        });
    }

    #[test]
    fn request_headers_round_trip() {
        fuzz::check((any::<u32>(), 0usize..=u32::MAX as usize - 4), |(code, payload_length)| {
            let header = LegacyRequestHeader::new(code, payload_length);
            prop_assert_eq!(header.payload_len() as usize, payload_length);
            prop_assert_eq!(LegacyRequestHeader::parse(&header.encode()), Ok(header));
            Ok(())
        });
    }

    /// What the server writes, the client reads back: an error never carries a body, and a
    /// success carries exactly its payload.
    #[test]
    fn response_headers_round_trip() {
        let payload_length = prop_oneof![Just(0u32), 2u32..];
        fuzz::check((prop::sample::select(ErrorCode::ALL), payload_length), |(code, payload_length)| {
            let error = LegacyResponseHeader::parse(&encode_error_header(code));
            prop_assert_eq!((error.status, error.body_len()), (code.as_u32(), 0));
            let ok = LegacyResponseHeader::parse(&encode_ok_header(payload_length as usize));
            prop_assert_eq!((ok.status, ok.body_len()), (0, payload_length));
            prop_assert_eq!(encode_response_header(0, payload_length), encode_ok_header(payload_length as usize));
            Ok(())
        });
    }
}

/// The allocation guard the decoder targets rely on sees allocations, so a target cannot pass
/// because the guard went blind.
#[test]
fn allocation_guard_sees_large_allocations() {
    let (_, largest) = fuzz::allocation::largest(|| Vec::<u8>::with_capacity(1 << 20));
    assert!(largest >= 1 << 20, "largest allocation seen: {largest}");
    assert!(fuzz::allocation::bounded(16, || Vec::<u8>::with_capacity(1 << 20)).is_err());
    assert!(fuzz::allocation::bounded(16, || Vec::<u8>::with_capacity(1024)).is_ok());
}
