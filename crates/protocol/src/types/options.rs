//! The V options block (§2.8) and the user-headers TLV it reuses (§2.7).
//!
//! Every field is `[kind u8][length u32][bytes]`, kind 1..=255 (0 is reserved), length
//! 1..=255; fields come in key/value pairs. Options add: string keys only, no duplicate keys,
//! at most [`MAX_OPTIONS`] pairs and [`MAX_OPTIONS_BYTES`] bytes. Value kinds are not
//! restricted, so kinds added by newer clients pass through (as in Iggy).

use bytes::{BufMut, BytesMut};

use crate::wire::{DecodeError, Reader, put_u32_length};

/// Value kind of UTF-8 strings (Iggy `HeaderKind::String`).
pub const KIND_STRING: u8 = 2;
/// Most key/value pairs one options block may hold.
pub const MAX_OPTIONS: usize = 1024;
/// Largest options block, the same budget as a message's user headers.
pub const MAX_OPTIONS_BYTES: usize = 100_000;
const MAX_FIELD_LENGTH: usize = 255;

/// One option value: its kind code and raw bytes, interpreted by whoever knows the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OptionValue {
    pub kind: u8,
    pub bytes: Vec<u8>,
}

impl OptionValue {
    /// A String-kind value, the form SDK 0.11 uses for every topic option it sends.
    pub fn string(text: &str) -> OptionValue {
        OptionValue { kind: KIND_STRING, bytes: text.as_bytes().to_vec() }
    }

    /// The value as text, when it is String kind and valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        if self.kind != KIND_STRING {
            return None;
        }
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// A validated options block, pairs in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(pub Vec<(String, OptionValue)>);

impl Options {
    pub fn new() -> Options {
        Options(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.0.iter().find(|(known, _)| known == key).map(|(_, value)| value)
    }

    /// The value under `key` as text; `None` when absent or not a UTF-8 String.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(OptionValue::as_str)
    }

    /// Decodes a bare block that is exactly `block` (the request form, which runs to the end
    /// of the payload: pass `reader.rest()`).
    pub fn decode(block: &[u8]) -> Result<Options, DecodeError> {
        if block.len() > MAX_OPTIONS_BYTES {
            return Err(DecodeError::OptionsTooLarge { length: block.len() });
        }
        let mut reader = Reader::new(block);
        let mut pairs: Vec<(String, OptionValue)> = Vec::new();
        while reader.remaining() > 0 {
            let (key_kind, key) = read_field(&mut reader)?;
            let (kind, value) = read_field(&mut reader)?;
            if key_kind != KIND_STRING {
                return Err(DecodeError::OptionKeyNotString { kind: key_kind });
            }
            let key = std::str::from_utf8(key).map_err(|_| DecodeError::InvalidUtf8)?;
            if pairs.len() == MAX_OPTIONS {
                return Err(DecodeError::TooManyOptions { count: pairs.len() + 1 });
            }
            pairs.push((key.to_owned(), OptionValue { kind, bytes: value.to_vec() }));
        }
        // Sorted once rather than compared pairwise: up to 1024 keys per request otherwise
        // cost half a million comparisons a client could make us pay on every call.
        let mut keys: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
        keys.sort_unstable();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(DecodeError::DuplicateOptionKey { key: pair[0].to_owned() });
        }
        Ok(Options(pairs))
    }

    /// Reads the response form, `Opts32`: a u32 length, then the block.
    pub fn read_prefixed(reader: &mut Reader<'_>) -> Result<Options, DecodeError> {
        let length = reader.u32()? as usize;
        if length > MAX_OPTIONS_BYTES {
            return Err(DecodeError::OptionsTooLarge { length });
        }
        Options::decode(reader.bytes(length)?)
    }

    /// Writes the bare block (request form).
    ///
    /// Panics when a key or value is empty or over 255 bytes: such a block has no valid
    /// encoding, and every block this crate decodes is free of them.
    pub fn encode(&self, buffer: &mut BytesMut) {
        for (key, value) in &self.0 {
            put_field(buffer, KIND_STRING, key.as_bytes());
            put_field(buffer, value.kind, &value.bytes);
        }
    }

    /// Writes the response form, `Opts32`: a u32 length, then the block.
    pub fn encode_prefixed(&self, buffer: &mut BytesMut) {
        put_u32_length(buffer, self.encoded_len());
        self.encode(buffer);
    }

    /// Bytes [`Options::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(|(key, value)| 10 + key.len() + value.bytes.len()).sum()
    }
}

/// Checks the structure of a message's user-headers block (§2.7) and returns its pair count.
/// Servers only need the structure; kinds above 15 are forwarded, as Iggy does.
pub fn validate_user_headers(block: &[u8]) -> Result<usize, DecodeError> {
    let mut reader = Reader::new(block);
    let mut pairs = 0;
    while reader.remaining() > 0 {
        read_field(&mut reader)?;
        read_field(&mut reader)?;
        pairs += 1;
    }
    Ok(pairs)
}

fn read_field<'a>(reader: &mut Reader<'a>) -> Result<(u8, &'a [u8]), DecodeError> {
    let kind = reader.u8()?;
    if kind == 0 {
        return Err(DecodeError::InvalidKind { what: "header field", value: 0 });
    }
    let length = reader.u32()?;
    if length == 0 || length as usize > MAX_FIELD_LENGTH {
        return Err(DecodeError::InvalidLength { what: "header field", value: u64::from(length) });
    }
    Ok((kind, reader.bytes(length as usize)?))
}

fn put_field(buffer: &mut BytesMut, kind: u8, bytes: &[u8]) {
    assert!(kind != 0, "header field kind 0 is reserved");
    assert!((1..=MAX_FIELD_LENGTH).contains(&bytes.len()), "header field of {} bytes cannot be encoded", bytes.len());
    buffer.put_u8(kind);
    put_u32_length(buffer, bytes.len());
    buffer.put_slice(bytes);
}
