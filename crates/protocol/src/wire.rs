//! Bounds-checked reading and the matching write helpers shared by every payload codec.
//!
//! All integers are little-endian (protocol.md §2). A [`Reader`] never panics and never
//! allocates more than the bytes it was given, so decoders built on it are safe to fuzz.

use bytes::{BufMut, BytesMut};

use crate::status::ErrorCode;

/// Longest `Name` (u8 length prefix).
pub const MAX_NAME_LENGTH: usize = 255;

/// Why a payload did not decode. [`DecodeError::code`] gives the status a server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("needed {needed} more bytes, {available} left")]
    Truncated { needed: usize, available: usize },
    #[error("{count} bytes follow the end of a fixed layout")]
    TrailingBytes { count: usize },
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    #[error("name is empty")]
    EmptyName,
    #[error("identifier of kind {kind} and length {length} is invalid")]
    InvalidIdentifier { kind: u8, length: u8 },
    #[error("{what} kind {value} is unknown")]
    InvalidKind { what: &'static str, value: u8 },
    #[error("{what} length {value} is out of range")]
    InvalidLength { what: &'static str, value: u64 },
    #[error("option key has kind {kind}, not String (2)")]
    OptionKeyNotString { kind: u8 },
    #[error("option key {key:?} appears more than once")]
    DuplicateOptionKey { key: String },
    #[error("options block holds {count} pairs, more than allowed")]
    TooManyOptions { count: usize },
    #[error("options block of {length} bytes is larger than allowed")]
    OptionsTooLarge { length: usize },
    #[error("metadata_length {declared} disagrees with the {parsed} metadata bytes parsed")]
    MetadataLengthMismatch { declared: u32, parsed: usize },
}

impl DecodeError {
    /// The status a server answers a request that failed to decode with. Iggy servers refuse
    /// undecodable bodies with InvalidCommand (the V server's poll path, the legacy parsers),
    /// bad identifiers with InvalidIdentifier, and oversized option blocks with
    /// OptionsBlockTooLarge. A client that cannot decode a *reply* reports InvalidFormat
    /// instead, as the SDK does; that is the caller's choice, not this function's.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::InvalidIdentifier { .. } => ErrorCode::InvalidIdentifier,
            DecodeError::TooManyOptions { .. } | DecodeError::OptionsTooLarge { .. } => ErrorCode::OptionsBlockTooLarge,
            DecodeError::Truncated { .. }
            | DecodeError::TrailingBytes { .. }
            | DecodeError::InvalidUtf8
            | DecodeError::EmptyName
            | DecodeError::InvalidKind { .. }
            | DecodeError::InvalidLength { .. }
            | DecodeError::OptionKeyNotString { .. }
            | DecodeError::DuplicateOptionKey { .. }
            | DecodeError::MetadataLengthMismatch { .. } => ErrorCode::InvalidCommand,
        }
    }
}

/// A cursor over a payload that checks every read against the end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    /// Bytes consumed so far, i.e. the offset of the next read in the original slice.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// Takes the next `count` bytes.
    pub fn bytes(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if count > available {
            return Err(DecodeError::Truncated { needed: count, available });
        }
        let taken = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(taken)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    /// `count` bytes of UTF-8 text.
    pub fn text(&mut self, count: usize) -> Result<String, DecodeError> {
        let raw = self.bytes(count)?;
        std::str::from_utf8(raw).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// A `Name` (§2.1): u8 length 1..=255, then UTF-8.
    pub fn name(&mut self) -> Result<String, DecodeError> {
        let length = self.u8()?;
        if length == 0 {
            return Err(DecodeError::EmptyName);
        }
        self.text(usize::from(length))
    }

    /// u8-prefixed UTF-8 that may be empty (passwords, tokens): their bounds are semantic
    /// checks done after decoding, so they answer with their own status codes.
    pub fn short_text(&mut self) -> Result<String, DecodeError> {
        let length = self.u8()?;
        self.text(usize::from(length))
    }

    /// u32-prefixed UTF-8 (login context, client address, cluster names).
    pub fn long_text(&mut self) -> Result<String, DecodeError> {
        let length = self.u32()?;
        self.text(length as usize)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.position..];
        self.position = self.bytes.len();
        rest
    }

    /// Ends a fixed layout: any byte left over is an error.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

/// Writes a `Name` (§2.1).
///
/// Panics when `name` is empty or longer than 255 bytes: encoding one is a bug in the caller,
/// since every name this crate decodes fits and [`check_name`] vets names from elsewhere.
pub fn put_name(buffer: &mut BytesMut, name: &str) {
    assert!(check_name(name).is_ok(), "name of {} bytes cannot be encoded", name.len());
    put_short_text(buffer, name);
}

/// Whether `name` can be written as a `Name`.
pub fn check_name(name: &str) -> Result<(), DecodeError> {
    match name.len() {
        0 => Err(DecodeError::EmptyName),
        1..=MAX_NAME_LENGTH => Ok(()),
        length => Err(DecodeError::InvalidLength { what: "name", value: length as u64 }),
    }
}

/// Writes u8-prefixed text that may be empty. Panics above 255 bytes, like [`put_name`].
pub fn put_short_text(buffer: &mut BytesMut, text: &str) {
    let Ok(length) = u8::try_from(text.len()) else {
        panic!("text of {} bytes does not fit a u8 length", text.len());
    };
    buffer.put_u8(length);
    buffer.put_slice(text.as_bytes());
}

/// Writes u32-prefixed text.
pub fn put_long_text(buffer: &mut BytesMut, text: &str) {
    put_u32_length(buffer, text.len());
    buffer.put_slice(text.as_bytes());
}

/// Writes a u32 length. Panics above `u32::MAX`: no frame can carry that much (§3.1 limits).
pub fn put_u32_length(buffer: &mut BytesMut, length: usize) {
    let Ok(length) = u32::try_from(length) else {
        panic!("length {length} does not fit a u32");
    };
    buffer.put_u32_le(length);
}

#[cfg(test)]
mod tests;
