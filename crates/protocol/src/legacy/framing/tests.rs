use super::*;

fn header(length: u32, code: u32) -> [u8; HEADER_SIZE] {
    let mut bytes = [0u8; HEADER_SIZE];
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    bytes[4..].copy_from_slice(&code.to_le_bytes());
    bytes
}

#[test]
fn request_length_counts_the_code_but_not_itself() {
    let ping = LegacyRequestHeader::parse(&header(4, codes::PING)).unwrap();
    assert_eq!((ping.code, ping.payload_len()), (codes::PING, 0));
    let create = LegacyRequestHeader::parse(&header(4 + 5, codes::CREATE_STREAM)).unwrap();
    assert_eq!(create.payload_len(), 5);
    assert_eq!(LegacyRequestHeader::new(codes::CREATE_STREAM, 5), create);
    assert_eq!(LegacyRequestHeader::parse(&create.encode()), Ok(create));
}

#[test]
fn a_length_below_four_is_invalid_command() {
    for length in 0..4 {
        let error = LegacyRequestHeader::parse(&header(length, codes::PING)).unwrap_err();
        assert_eq!(error, FrameError::LengthTooSmall { length });
        assert_eq!(ErrorCode::from(error), ErrorCode::InvalidCommand);
    }
}

#[test]
fn control_commands_are_capped_at_ten_megabytes_and_send_messages_at_the_frame_size() {
    let max_frame_size = 64 << 20;
    assert_eq!(payload_cap(codes::SEND_MESSAGES, max_frame_size), max_frame_size - 8);
    assert_eq!(payload_cap(codes::CREATE_STREAM, max_frame_size), MAX_CONTROL_PAYLOAD_SIZE);
    assert_eq!(payload_cap(codes::POLL_MESSAGES, 1024), 1016, "a smaller frame limit caps control commands too");
    assert_eq!(payload_cap(codes::PING, 0), 0);

    let fits = LegacyRequestHeader { length: 4 + MAX_CONTROL_PAYLOAD_SIZE, code: codes::LOGIN_USER };
    assert_eq!(fits.check_size(max_frame_size), Ok(()));
    let over = LegacyRequestHeader { length: 5 + MAX_CONTROL_PAYLOAD_SIZE, code: codes::LOGIN_USER };
    let error = over.check_size(max_frame_size).unwrap_err();
    assert_eq!(
        error,
        FrameError::PayloadTooLarge {
            code: codes::LOGIN_USER,
            payload_length: MAX_CONTROL_PAYLOAD_SIZE + 1,
            cap: MAX_CONTROL_PAYLOAD_SIZE
        }
    );
    assert_eq!(error.code(), ErrorCode::InvalidCommand);
    let send = LegacyRequestHeader { length: 5 + MAX_CONTROL_PAYLOAD_SIZE, code: codes::SEND_MESSAGES };
    assert_eq!(send.check_size(max_frame_size), Ok(()));
    assert!(LegacyRequestHeader { length: u32::MAX, code: codes::SEND_MESSAGES }.check_size(max_frame_size).is_err());
}

#[test]
fn response_length_counts_only_the_payload() {
    assert_eq!(encode_ok_header(0), header(0, 0), "empty success is [0][0]");
    assert_eq!(encode_ok_header(4), header(0, 4), "login reply");
    assert_eq!(encode_error_header(ErrorCode::StreamNameAlreadyExists), header(1012, 0), "errors carry no body");
    assert_eq!(encode_response_header(0, 20), header(0, 20));

    let parsed = LegacyResponseHeader::parse(&header(0, 20));
    assert_eq!((parsed.status, parsed.length, parsed.body_len()), (0, 20, 20));
    assert_eq!(LegacyResponseHeader::parse(&header(1012, 0)).body_len(), 0);
    assert_eq!(LegacyResponseHeader::parse(&header(0, 1)).body_len(), 0, "SDK 0.10 never reads a 1-byte body");
    assert_eq!(LegacyResponseHeader::parse(&header(3, 9)).body_len(), 0, "nor the body of an error");
}

#[test]
#[should_panic(expected = "1-byte")]
fn a_one_byte_reply_is_a_bug() {
    let _ = encode_ok_header(1);
}

#[test]
#[should_panic(expected = "must not carry a payload")]
fn an_error_with_a_body_is_a_bug() {
    let _ = encode_response_header(ErrorCode::InvalidCommand.as_u32(), 8);
}
