//! User and token replies (§7.8, §5.2): GET_USER, GET_USERS, CREATE_USER,
//! GET_PERSONAL_ACCESS_TOKENS and CREATE_PERSONAL_ACCESS_TOKEN.

use bytes::{BufMut, BytesMut};

use crate::permissions::Permissions;
use crate::types::Options;
use crate::wire::{DecodeError, Reader, put_name, put_u32_length};

/// UserHeader: `[id u32][created_at u64][status u8][Name username]`, then in V an `Opts32`
/// ([P11] `responses/users/user_response.rs`; L has no options, [SRV08] `mapper.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub id: u32,
    /// Microseconds since the epoch.
    pub created_at: u64,
    /// 1 active, 2 inactive.
    pub status: u8,
    pub username: String,
    /// Not sent in L; the user catalog has no keys, so normally empty in V too.
    pub options: Options,
}

impl UserInfo {
    pub fn read(reader: &mut Reader<'_>, legacy: bool) -> Result<UserInfo, DecodeError> {
        Ok(UserInfo {
            id: reader.u32()?,
            created_at: reader.u64()?,
            status: reader.u8()?,
            username: reader.name()?,
            options: if legacy { Options::new() } else { Options::read_prefixed(reader)? },
        })
    }

    /// Writes the L or V header. L has nowhere to put options, so they are dropped there.
    pub fn encode(&self, buffer: &mut BytesMut, legacy: bool) {
        buffer.put_u32_le(self.id);
        buffer.put_u64_le(self.created_at);
        buffer.put_u8(self.status);
        put_name(buffer, &self.username);
        if !legacy {
            self.options.encode_prefixed(buffer);
        }
    }
}

/// UserDetails (GET_USER, CREATE_USER reply): the header, then the permissions as
/// `[0x01][length u32][Permissions]`, or four zero bytes for none.
///
/// The "none" form is a u32 0 written by the server; the SDK reads its first byte as a flag
/// and skips the other three unchecked ([P11] `responses/users/get_user.rs`), and so do we.
/// Any non-zero flag means permissions follow, and they must fill exactly `length` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDetails {
    pub user: UserInfo,
    pub permissions: Option<Permissions>,
}

impl UserDetails {
    pub fn decode(payload: &[u8], legacy: bool) -> Result<UserDetails, DecodeError> {
        let mut reader = Reader::new(payload);
        let user = UserInfo::read(&mut reader, legacy)?;
        let permissions = if reader.u8()? == 0 {
            reader.bytes(3)?;
            None
        } else {
            let length = reader.u32()?;
            Some(Permissions::decode(reader.bytes(length as usize)?)?)
        };
        reader.finish()?;
        Ok(UserDetails { user, permissions })
    }

    pub fn encode(&self, buffer: &mut BytesMut, legacy: bool) {
        self.user.encode(buffer, legacy);
        match &self.permissions {
            None => buffer.put_u32_le(0),
            Some(permissions) => {
                buffer.put_u8(1);
                put_u32_length(buffer, permissions.encoded_len());
                permissions.encode(buffer);
            }
        }
    }
}

/// Writes the GET_USERS reply: user headers back to back, no count; empty = no users.
pub fn encode_users(users: &[UserInfo], buffer: &mut BytesMut, legacy: bool) {
    for user in users {
        user.encode(buffer, legacy);
    }
}

/// Reads a GET_USERS reply until the body ends.
pub fn decode_users(body: &[u8], legacy: bool) -> Result<Vec<UserInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut users = Vec::new();
    while reader.remaining() > 0 {
        users.push(UserInfo::read(&mut reader, legacy)?);
    }
    Ok(users)
}

/// One GET_PERSONAL_ACCESS_TOKENS entry: `Name name, [expiry_at u64]` (µs timestamp, 0 =
/// never expires). Identical in L and V.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessTokenInfo {
    pub name: String,
    pub expiry_at: u64,
}

impl PersonalAccessTokenInfo {
    pub fn read(reader: &mut Reader<'_>) -> Result<PersonalAccessTokenInfo, DecodeError> {
        Ok(PersonalAccessTokenInfo { name: reader.name()?, expiry_at: reader.u64()? })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.name);
        buffer.put_u64_le(self.expiry_at);
    }
}

/// Writes the GET_PERSONAL_ACCESS_TOKENS reply: entries back to back, no count.
pub fn encode_personal_access_tokens(tokens: &[PersonalAccessTokenInfo], buffer: &mut BytesMut) {
    for token in tokens {
        token.encode(buffer);
    }
}

/// Reads a GET_PERSONAL_ACCESS_TOKENS reply until the body ends.
pub fn decode_personal_access_tokens(body: &[u8]) -> Result<Vec<PersonalAccessTokenInfo>, DecodeError> {
    let mut reader = Reader::new(body);
    let mut tokens = Vec::new();
    while reader.remaining() > 0 {
        tokens.push(PersonalAccessTokenInfo::read(&mut reader)?);
    }
    Ok(tokens)
}

/// The CREATE_PERSONAL_ACCESS_TOKEN reply: `Name token`, the raw secret shown once. The SDK
/// decodes it as a `Name`, so a token is 1..=255 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawToken {
    pub token: String,
}

impl RawToken {
    pub fn decode(payload: &[u8]) -> Result<RawToken, DecodeError> {
        let mut reader = Reader::new(payload);
        let token = reader.name()?;
        reader.finish()?;
        Ok(RawToken { token })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.token);
    }
}

impl std::fmt::Debug for RawToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("RawToken").field("token", &"<redacted>").finish()
    }
}
