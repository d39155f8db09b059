//! User, login and personal-access-token payloads (protocol.md §5.2, §7.8), both generations.
//!
//! Where L and V differ the decoder takes `legacy: bool`: V appends an options block to
//! CreateUser/UpdateUser (running to the end of the body) and an `Opts32` to every user
//! header; L has neither and refuses trailing bytes instead. Encoders need no flag for the
//! requests, since an empty options block is zero bytes, so an L body is a V body with no
//! options. Layouts follow [P11] `requests/users/*.rs`, `requests/personal_access_tokens/*.rs`,
//! `responses/users/*.rs` and, for L, [C10] `commands/users/login_user.rs` and the legacy
//! server's `binary/mapper.rs` `map_user`.
//!
//! Passwords and tokens are bounded by the caller (`validate`), not by decoding: they answer
//! InvalidUsername (43) / InvalidPassword (44) rather than InvalidCommand.

use bytes::{BufMut, BytesMut};

use crate::permissions::Permissions;
use crate::requests::{PASSWORD_LENGTH, USERNAME_LENGTH};
use crate::status::ErrorCode;
use crate::types::{Identifier, Options};
use crate::wire::{DecodeError, Reader, put_long_text, put_name, put_short_text};

/// User status codes (§2.10).
pub const USER_STATUS_ACTIVE: u8 = 1;
pub const USER_STATUS_INACTIVE: u8 = 2;

/// GET_USER (31), DELETE_USER (34): `Id user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub user: Identifier,
}

impl UserRef {
    pub fn decode(payload: &[u8]) -> Result<UserRef, DecodeError> {
        let mut reader = Reader::new(payload);
        let user = Identifier::read(&mut reader)?;
        reader.finish()?;
        Ok(UserRef { user })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.user.encode(buffer);
    }
}

/// CREATE_USER (33): `Name username, [u8 len][password], [status u8],
/// [has_permissions u8]{[length u32][Permissions]}`, then in V an options block to the end.
#[derive(Clone, PartialEq, Eq)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    /// [`USER_STATUS_ACTIVE`] or [`USER_STATUS_INACTIVE`]; other values are the caller's to refuse.
    pub status: u8,
    pub permissions: Option<Permissions>,
    /// Always empty in L. SDK 0.11 sends none; the user catalog has no keys yet.
    pub options: Options,
}

impl CreateUser {
    pub fn decode(payload: &[u8], legacy: bool) -> Result<CreateUser, DecodeError> {
        let mut reader = Reader::new(payload);
        let username = reader.name()?;
        let password = reader.short_text()?;
        let status = reader.u8()?;
        let permissions = Permissions::read_optional(&mut reader)?;
        let options = read_trailing_options(reader, legacy)?;
        Ok(CreateUser { username, password, status, permissions, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.username);
        put_short_text(buffer, &self.password);
        buffer.put_u8(self.status);
        Permissions::put_optional(buffer, self.permissions.as_ref());
        self.options.encode(buffer);
    }

    /// The bounds the SDK checks before sending and the server checks too.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        validate_credentials(&self.username, &self.password)
    }
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CreateUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("status", &self.status)
            .field("permissions", &self.permissions)
            .field("options", &self.options)
            .finish()
    }
}

/// UPDATE_USER (35): `Id user, [has_username u8]{Name}, [has_status u8]{[status u8]}`, then in
/// V an options block to the end. Only flag 1 means present, as in [P11] `update_user.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateUser {
    pub user: Identifier,
    pub username: Option<String>,
    pub status: Option<u8>,
    pub options: Options,
}

impl UpdateUser {
    pub fn decode(payload: &[u8], legacy: bool) -> Result<UpdateUser, DecodeError> {
        let mut reader = Reader::new(payload);
        let user = Identifier::read(&mut reader)?;
        let username = if reader.u8()? == 1 { Some(reader.name()?) } else { None };
        let status = if reader.u8()? == 1 { Some(reader.u8()?) } else { None };
        let options = read_trailing_options(reader, legacy)?;
        Ok(UpdateUser { user, username, status, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.user.encode(buffer);
        match &self.username {
            Some(username) => {
                buffer.put_u8(1);
                put_name(buffer, username);
            }
            None => buffer.put_u8(0),
        }
        match self.status {
            Some(status) => buffer.put_slice(&[1, status]),
            None => buffer.put_u8(0),
        }
        self.options.encode(buffer);
    }
}

/// UPDATE_PERMISSIONS (36): `Id user, [has_permissions u8]{[length u32][Permissions]}`;
/// `None` removes every grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePermissions {
    pub user: Identifier,
    pub permissions: Option<Permissions>,
}

impl UpdatePermissions {
    pub fn decode(payload: &[u8]) -> Result<UpdatePermissions, DecodeError> {
        let mut reader = Reader::new(payload);
        let user = Identifier::read(&mut reader)?;
        let permissions = Permissions::read_optional(&mut reader)?;
        reader.finish()?;
        Ok(UpdatePermissions { user, permissions })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.user.encode(buffer);
        Permissions::put_optional(buffer, self.permissions.as_ref());
    }
}

/// CHANGE_PASSWORD (37): `Id user, [u8 len][current_password], [u8 len][new_password]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ChangePassword {
    pub user: Identifier,
    pub current_password: String,
    pub new_password: String,
}

impl ChangePassword {
    pub fn decode(payload: &[u8]) -> Result<ChangePassword, DecodeError> {
        let mut reader = Reader::new(payload);
        let user = Identifier::read(&mut reader)?;
        let current_password = reader.short_text()?;
        let new_password = reader.short_text()?;
        reader.finish()?;
        Ok(ChangePassword { user, current_password, new_password })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.user.encode(buffer);
        put_short_text(buffer, &self.current_password);
        put_short_text(buffer, &self.new_password);
    }

    /// Both passwords must be 3..=100 bytes.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        if PASSWORD_LENGTH.contains(&self.current_password.len()) && PASSWORD_LENGTH.contains(&self.new_password.len())
        {
            Ok(())
        } else {
            Err(ErrorCode::InvalidPassword)
        }
    }
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChangePassword")
            .field("user", &self.user)
            .field("current_password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// CREATE_PERSONAL_ACCESS_TOKEN (42): `Name name, [expiry u64]` (µs; 0 = server default,
/// `u64::MAX` = never, §2.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePersonalAccessToken {
    pub name: String,
    pub expiry: u64,
}

impl CreatePersonalAccessToken {
    pub fn decode(payload: &[u8]) -> Result<CreatePersonalAccessToken, DecodeError> {
        let mut reader = Reader::new(payload);
        let name = reader.name()?;
        let expiry = reader.u64()?;
        reader.finish()?;
        Ok(CreatePersonalAccessToken { name, expiry })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.name);
        buffer.put_u64_le(self.expiry);
    }
}

/// DELETE_PERSONAL_ACCESS_TOKEN (43): `Name name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePersonalAccessToken {
    pub name: String,
}

impl DeletePersonalAccessToken {
    pub fn decode(payload: &[u8]) -> Result<DeletePersonalAccessToken, DecodeError> {
        let mut reader = Reader::new(payload);
        let name = reader.name()?;
        reader.finish()?;
        Ok(DeletePersonalAccessToken { name })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.name);
    }
}

/// LOGIN_USER (38, L only): `Name username, [u8 len][password], [version_len u32][version],
/// [context_len u32][context]`. Both length fields are always on the wire (SDK 0.10 sends
/// `"0.10.0"` and an empty context) and the reference parsers need them, so a body that ends
/// after the password is refused; a length of 0 reads as `None` ([C10] `login_user.rs`,
/// [P11] `login_user.rs`).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginUser {
    pub username: String,
    pub password: String,
    /// The SDK's version; `Some("")` encodes like `None`.
    pub version: Option<String>,
    pub context: Option<String>,
}

impl LoginUser {
    pub fn decode(payload: &[u8]) -> Result<LoginUser, DecodeError> {
        let mut reader = Reader::new(payload);
        let username = reader.name()?;
        let password = reader.short_text()?;
        let version = Some(reader.long_text()?).filter(|text| !text.is_empty());
        let context = Some(reader.long_text()?).filter(|text| !text.is_empty());
        reader.finish()?;
        Ok(LoginUser { username, password, version, context })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.username);
        put_short_text(buffer, &self.password);
        put_long_text(buffer, self.version.as_deref().unwrap_or(""));
        put_long_text(buffer, self.context.as_deref().unwrap_or(""));
    }

    /// The bounds the SDK checks before sending and the server checks too (trap 22).
    pub fn validate(&self) -> Result<(), ErrorCode> {
        validate_credentials(&self.username, &self.password)
    }
}

impl std::fmt::Debug for LoginUser {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("version", &self.version)
            .field("context", &self.context)
            .finish()
    }
}

/// LOGIN_WITH_PERSONAL_ACCESS_TOKEN (44, L only): `Name token`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginWithPersonalAccessToken {
    pub token: String,
}

impl LoginWithPersonalAccessToken {
    pub fn decode(payload: &[u8]) -> Result<LoginWithPersonalAccessToken, DecodeError> {
        let mut reader = Reader::new(payload);
        let token = reader.name()?;
        reader.finish()?;
        Ok(LoginWithPersonalAccessToken { token })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.token);
    }
}

impl std::fmt::Debug for LoginWithPersonalAccessToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("LoginWithPersonalAccessToken").field("token", &"<redacted>").finish()
    }
}

/// The L reply to both legacy logins (38, 44): `[user_id u32]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityInfo {
    pub user_id: u32,
}

impl IdentityInfo {
    pub fn decode(payload: &[u8]) -> Result<IdentityInfo, DecodeError> {
        let mut reader = Reader::new(payload);
        let user_id = reader.u32()?;
        reader.finish()?;
        Ok(IdentityInfo { user_id })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.user_id);
    }
}

mod replies;

pub use replies::{
    PersonalAccessTokenInfo, RawToken, UserDetails, UserInfo, decode_personal_access_tokens, decode_users,
    encode_personal_access_tokens, encode_users,
};

/// The end of a CreateUser/UpdateUser body: V's options block, or nothing at all in L.
fn read_trailing_options(mut reader: Reader<'_>, legacy: bool) -> Result<Options, DecodeError> {
    if legacy {
        reader.finish()?;
        return Ok(Options::new());
    }
    Options::decode(reader.rest())
}

fn validate_credentials(username: &str, password: &str) -> Result<(), ErrorCode> {
    if !USERNAME_LENGTH.contains(&username.len()) {
        return Err(ErrorCode::InvalidUsername);
    }
    if !PASSWORD_LENGTH.contains(&password.len()) {
        return Err(ErrorCode::InvalidPassword);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
