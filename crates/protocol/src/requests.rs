//! Typed request payloads of protocol 0.11 (protocol.md §5), for the commands the server core
//! serves now. `decode` takes the whole body (the bytes after the VSR header) and refuses
//! trailing bytes wherever the layout is fixed; `encode` writes the same body for our client.
//!
//! Semantic bounds (username length, partition counts, option keys) are not decode errors:
//! they answer with their own status codes and are checked by the caller or by `validate`.

use bytes::{BufMut, BytesMut};

use crate::status::ErrorCode;
use crate::types::{Identifier, Options};
use crate::vsr;
use crate::wire::{DecodeError, Reader, put_long_text, put_name, put_short_text};

/// Usernames are 3..=50 bytes (§2.1).
pub const USERNAME_LENGTH: std::ops::RangeInclusive<usize> = 3..=50;
/// Passwords are 3..=100 bytes (§2.1).
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 3..=100;

/// The prefix of both V login bodies (§5.2): `[protocol_version u32][Name sdk_name][Name sdk_version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersionInfo {
    pub protocol_version: u32,
    pub sdk_name: String,
    pub sdk_version: String,
}

impl ClientVersionInfo {
    /// Reads only the prefix of a login body and returns it with its length. The server
    /// decodes it first: failure is Eviction MalformedLogin (15), an incompatible version
    /// Eviction IncompatibleProtocol (14), both before any credential is looked at.
    pub fn decode_prefix(payload: &[u8]) -> Result<(ClientVersionInfo, usize), DecodeError> {
        let mut reader = Reader::new(payload);
        let info = ClientVersionInfo::read(&mut reader)?;
        Ok((info, reader.position()))
    }

    pub fn read(reader: &mut Reader<'_>) -> Result<ClientVersionInfo, DecodeError> {
        Ok(ClientVersionInfo { protocol_version: reader.u32()?, sdk_name: reader.name()?, sdk_version: reader.name()? })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        buffer.put_u32_le(self.protocol_version);
        put_name(buffer, &self.sdk_name);
        put_name(buffer, &self.sdk_version);
    }

    /// Whether the version gate lets this client in (trap 18).
    pub fn is_compatible(&self) -> bool {
        vsr::is_compatible(self.protocol_version)
    }
}

/// LOGIN_REGISTER (40): `ClientVersionInfo, Name username, [u8 len][password], [u32 len][context]`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRegister {
    pub version: ClientVersionInfo,
    pub username: String,
    pub password: String,
    /// Free-form client context; SDK 0.11 sends none (length 0), read as "".
    pub context: String,
}

impl LoginRegister {
    pub fn decode(payload: &[u8]) -> Result<LoginRegister, DecodeError> {
        let mut reader = Reader::new(payload);
        let version = ClientVersionInfo::read(&mut reader)?;
        let username = reader.name()?;
        let password = reader.short_text()?;
        let context = reader.long_text()?;
        reader.finish()?;
        Ok(LoginRegister { version, username, password, context })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.version.encode(buffer);
        put_name(buffer, &self.username);
        put_short_text(buffer, &self.password);
        put_long_text(buffer, &self.context);
    }

    /// The bounds the SDK checks before sending and the server must check too (trap 22).
    pub fn validate(&self) -> Result<(), ErrorCode> {
        if !USERNAME_LENGTH.contains(&self.username.len()) {
            return Err(ErrorCode::InvalidUsername);
        }
        if !PASSWORD_LENGTH.contains(&self.password.len()) {
            return Err(ErrorCode::InvalidPassword);
        }
        Ok(())
    }
}

// Credentials never reach logs.
impl std::fmt::Debug for LoginRegister {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRegister")
            .field("version", &self.version)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("context", &self.context)
            .finish()
    }
}

/// LOGIN_REGISTER_WITH_PAT (45): `ClientVersionInfo, [u8 len][token], [u32 len][context]`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRegisterWithPat {
    pub version: ClientVersionInfo,
    pub token: String,
    pub context: String,
}

impl LoginRegisterWithPat {
    pub fn decode(payload: &[u8]) -> Result<LoginRegisterWithPat, DecodeError> {
        let mut reader = Reader::new(payload);
        let version = ClientVersionInfo::read(&mut reader)?;
        let token = reader.short_text()?;
        let context = reader.long_text()?;
        reader.finish()?;
        Ok(LoginRegisterWithPat { version, token, context })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.version.encode(buffer);
        put_short_text(buffer, &self.token);
        put_long_text(buffer, &self.context);
    }
}

impl std::fmt::Debug for LoginRegisterWithPat {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRegisterWithPat")
            .field("version", &self.version)
            .field("token", &"<redacted>")
            .field("context", &self.context)
            .finish()
    }
}

/// The body of a Register request. Both logins share the operation and the header carries no
/// code, so the body shape decides, password shape first as the reference server tries it.
/// With trailing bytes refused, a body fits both shapes only if constructed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Password(LoginRegister),
    Token(LoginRegisterWithPat),
}

impl Login {
    /// Fails with the password shape's error when neither shape fits.
    pub fn decode(payload: &[u8]) -> Result<Login, DecodeError> {
        match LoginRegister::decode(payload) {
            Ok(login) => Ok(Login::Password(login)),
            Err(error) => LoginRegisterWithPat::decode(payload).map(Login::Token).map_err(|_| error),
        }
    }

    pub fn version(&self) -> &ClientVersionInfo {
        match self {
            Login::Password(login) => &login.version,
            Login::Token(login) => &login.version,
        }
    }
}

/// CREATE_STREAM (202): `Name, Opts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateStream {
    pub name: String,
    pub options: Options,
}

impl CreateStream {
    pub fn decode(payload: &[u8]) -> Result<CreateStream, DecodeError> {
        let mut reader = Reader::new(payload);
        let name = reader.name()?;
        let options = Options::decode(reader.rest())?;
        Ok(CreateStream { name, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_name(buffer, &self.name);
        self.options.encode(buffer);
    }
}

/// GET_STREAM (200), DELETE_STREAM (203), PURGE_STREAM (205), GET_TOPICS (301): `Id stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRef {
    pub stream: Identifier,
}

/// GET_TOPICS (301) has the same body as the other single-stream requests.
pub type GetTopics = StreamRef;

impl StreamRef {
    pub fn decode(payload: &[u8]) -> Result<StreamRef, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        reader.finish()?;
        Ok(StreamRef { stream })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
    }
}

/// UPDATE_STREAM (204): `Id stream, Name, Opts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStream {
    pub stream: Identifier,
    pub name: String,
    pub options: Options,
}

impl UpdateStream {
    pub fn decode(payload: &[u8]) -> Result<UpdateStream, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let name = reader.name()?;
        let options = Options::decode(reader.rest())?;
        Ok(UpdateStream { stream, name, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        put_name(buffer, &self.name);
        self.options.encode(buffer);
    }
}

/// CREATE_TOPIC (302), V form: `Id stream, [partitions_count u32], Name, Opts`. SDK 0.11
/// always sends `durability` and `consumer_offset_durability` options (trap 17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopic {
    pub stream: Identifier,
    pub partitions_count: u32,
    pub name: String,
    pub options: Options,
}

impl CreateTopic {
    pub fn decode(payload: &[u8]) -> Result<CreateTopic, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let partitions_count = reader.u32()?;
        let name = reader.name()?;
        let options = Options::decode(reader.rest())?;
        Ok(CreateTopic { stream, partitions_count, name, options })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        buffer.put_u32_le(self.partitions_count);
        put_name(buffer, &self.name);
        self.options.encode(buffer);
    }
}

/// GET_TOPIC (300), DELETE_TOPIC (303), PURGE_TOPIC (305): `Id stream, Id topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRef {
    pub stream: Identifier,
    pub topic: Identifier,
}

impl TopicRef {
    pub fn decode(payload: &[u8]) -> Result<TopicRef, DecodeError> {
        let mut reader = Reader::new(payload);
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        reader.finish()?;
        Ok(TopicRef { stream, topic })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.stream.encode(buffer);
        self.topic.encode(buffer);
    }
}

mod messages;

pub use messages::{DeleteConsumerOffset, GetConsumerOffset, PollMessages, SendMessagesHeader, StoreConsumerOffset};

#[cfg(test)]
mod tests;
