use super::*;
use proptest::prelude::*;

#[test]
fn reads_little_endian_integers_in_order() {
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&0x0203u16.to_le_bytes());
    bytes.extend_from_slice(&0x0405_0607u32.to_le_bytes());
    bytes.extend_from_slice(&0x0809_0a0b_0c0d_0e0fu64.to_le_bytes());
    bytes.extend_from_slice(&u128::MAX.to_le_bytes());
    let mut reader = Reader::new(&bytes);
    assert_eq!(reader.u8(), Ok(0x01));
    assert_eq!(reader.u16(), Ok(0x0203));
    assert_eq!(reader.u32(), Ok(0x0405_0607));
    assert_eq!(reader.u64(), Ok(0x0809_0a0b_0c0d_0e0f));
    assert_eq!(reader.position(), 15);
    assert_eq!(reader.u128(), Ok(u128::MAX));
    assert_eq!(reader.remaining(), 0);
    assert_eq!(reader.finish(), Ok(()));
}

#[test]
fn a_short_read_names_what_was_missing_and_consumes_nothing() {
    let mut reader = Reader::new(&[1, 2, 3]);
    assert_eq!(reader.u32(), Err(DecodeError::Truncated { needed: 4, available: 3 }));
    assert_eq!(reader.remaining(), 3);
    assert_eq!(reader.bytes(2), Ok(&[1u8, 2][..]));
    assert_eq!(reader.clone().finish(), Err(DecodeError::TrailingBytes { count: 1 }));
    assert_eq!(reader.rest(), &[3]);
    assert_eq!(reader.rest(), &[] as &[u8]);
}

#[test]
fn names_are_one_to_255_bytes_of_utf8() {
    assert_eq!(Reader::new(b"\x04iggy").name(), Ok("iggy".to_owned()));
    assert_eq!(Reader::new(b"\x00").name(), Err(DecodeError::EmptyName));
    assert_eq!(Reader::new(b"\x02\xff\xfe").name(), Err(DecodeError::InvalidUtf8));
    assert_eq!(Reader::new(b"\x05iggy").name(), Err(DecodeError::Truncated { needed: 5, available: 4 }));
    assert_eq!(Reader::new(b"\x00").short_text(), Ok(String::new()));
    assert_eq!(Reader::new(b"\x02\x00\x00\x00hi").long_text(), Ok("hi".to_owned()));
    assert!(check_name(&"n".repeat(255)).is_ok());
    assert_eq!(check_name(&"n".repeat(256)), Err(DecodeError::InvalidLength { what: "name", value: 256 }));
}

#[test]
fn writers_produce_what_readers_read() {
    let mut buffer = BytesMut::new();
    put_name(&mut buffer, "orders");
    put_short_text(&mut buffer, "");
    put_long_text(&mut buffer, "127.0.0.1:8090");
    assert_eq!(&buffer[..7], b"\x06orders");
    let mut reader = Reader::new(&buffer);
    assert_eq!(reader.name().unwrap(), "orders");
    assert_eq!(reader.short_text().unwrap(), "");
    assert_eq!(reader.long_text().unwrap(), "127.0.0.1:8090");
    reader.finish().unwrap();
}

#[test]
#[should_panic(expected = "cannot be encoded")]
fn encoding_an_empty_name_is_a_bug() {
    put_name(&mut BytesMut::new(), "");
}

#[test]
fn error_codes_follow_the_servers() {
    assert_eq!(DecodeError::Truncated { needed: 1, available: 0 }.code(), ErrorCode::InvalidCommand);
    assert_eq!(DecodeError::TrailingBytes { count: 1 }.code(), ErrorCode::InvalidCommand);
    assert_eq!(DecodeError::InvalidIdentifier { kind: 3, length: 4 }.code(), ErrorCode::InvalidIdentifier);
    assert_eq!(DecodeError::OptionsTooLarge { length: 100_001 }.code(), ErrorCode::OptionsBlockTooLarge);
}

proptest! {
    #[test]
    fn reads_never_pass_the_end(bytes in prop::collection::vec(any::<u8>(), 0..64), ops in prop::collection::vec(0u8..9, 0..32)) {
        let mut reader = Reader::new(&bytes);
        for op in ops {
            let before = reader.remaining();
            let ok = match op {
                0 => reader.u8().is_ok(),
                1 => reader.u16().is_ok(),
                2 => reader.u32().is_ok(),
                3 => reader.u64().is_ok(),
                4 => reader.u128().is_ok(),
                5 => reader.name().is_ok(),
                6 => reader.short_text().is_ok(),
                7 => reader.long_text().is_ok(),
                _ => reader.bytes(usize::from(op) * 3).is_ok(),
            };
            prop_assert!(reader.remaining() <= before);
            prop_assert!(ok || reader.remaining() <= before);
        }
        prop_assert_eq!(reader.position() + reader.remaining(), bytes.len());
    }
}
