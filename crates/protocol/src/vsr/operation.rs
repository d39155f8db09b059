//! The operation byte of a request header (§3.1 table) and what it implies: the command code,
//! whether the reply body is result-framed, whether it consumes a request number.

use super::{FrameError, RequestHeader};
use crate::codes;

/// A client operation. 0 is reserved and 64..=68 are server-internal; neither is a variant,
/// so a value of this type is always one a client may send.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Login: LOGIN_REGISTER (40) or LOGIN_REGISTER_WITH_PAT (45); the body tells them apart.
    Register = 1,
    /// Every read, PING, FLUSH and SYNC: the code rides header bytes 196..200.
    NonReplicated = 2,
    Logout = 3,
    CreateStream = 128,
    UpdateStream = 129,
    DeleteStream = 130,
    PurgeStream = 131,
    CreateTopic = 132,
    UpdateTopic = 133,
    DeleteTopic = 134,
    PurgeTopic = 135,
    CreatePartitions = 136,
    DeletePartitions = 137,
    DeleteSegments = 138,
    CreateConsumerGroup = 139,
    DeleteConsumerGroup = 140,
    CreateUser = 141,
    UpdateUser = 142,
    DeleteUser = 143,
    ChangePassword = 144,
    UpdatePermissions = 145,
    CreatePersonalAccessToken = 146,
    DeletePersonalAccessToken = 147,
    JoinConsumerGroup = 148,
    LeaveConsumerGroup = 149,
    SendMessages = 160,
    StoreConsumerOffset = 161,
    DeleteConsumerOffset = 162,
}

/// Operations with a fixed command code, one row each (`dispatch.rs` `COMMAND_TABLE`).
const FIXED_CODES: [(Operation, u32); 26] = [
    (Operation::Logout, codes::LOGOUT_USER),
    (Operation::CreateStream, codes::CREATE_STREAM),
    (Operation::UpdateStream, codes::UPDATE_STREAM),
    (Operation::DeleteStream, codes::DELETE_STREAM),
    (Operation::PurgeStream, codes::PURGE_STREAM),
    (Operation::CreateTopic, codes::CREATE_TOPIC),
    (Operation::UpdateTopic, codes::UPDATE_TOPIC),
    (Operation::DeleteTopic, codes::DELETE_TOPIC),
    (Operation::PurgeTopic, codes::PURGE_TOPIC),
    (Operation::CreatePartitions, codes::CREATE_PARTITIONS),
    (Operation::DeletePartitions, codes::DELETE_PARTITIONS),
    (Operation::DeleteSegments, codes::DELETE_SEGMENTS),
    (Operation::CreateConsumerGroup, codes::CREATE_CONSUMER_GROUP),
    (Operation::DeleteConsumerGroup, codes::DELETE_CONSUMER_GROUP),
    (Operation::CreateUser, codes::CREATE_USER),
    (Operation::UpdateUser, codes::UPDATE_USER),
    (Operation::DeleteUser, codes::DELETE_USER),
    (Operation::ChangePassword, codes::CHANGE_PASSWORD),
    (Operation::UpdatePermissions, codes::UPDATE_PERMISSIONS),
    (Operation::CreatePersonalAccessToken, codes::CREATE_PERSONAL_ACCESS_TOKEN),
    (Operation::DeletePersonalAccessToken, codes::DELETE_PERSONAL_ACCESS_TOKEN),
    (Operation::JoinConsumerGroup, codes::JOIN_CONSUMER_GROUP),
    (Operation::LeaveConsumerGroup, codes::LEAVE_CONSUMER_GROUP),
    (Operation::SendMessages, codes::SEND_MESSAGES),
    (Operation::StoreConsumerOffset, codes::STORE_CONSUMER_OFFSET),
    (Operation::DeleteConsumerOffset, codes::DELETE_CONSUMER_OFFSET),
];

impl Operation {
    /// Every operation, in wire order.
    pub const ALL: [Operation; 28] = [
        Operation::Register,
        Operation::NonReplicated,
        Operation::Logout,
        Operation::CreateStream,
        Operation::UpdateStream,
        Operation::DeleteStream,
        Operation::PurgeStream,
        Operation::CreateTopic,
        Operation::UpdateTopic,
        Operation::DeleteTopic,
        Operation::PurgeTopic,
        Operation::CreatePartitions,
        Operation::DeletePartitions,
        Operation::DeleteSegments,
        Operation::CreateConsumerGroup,
        Operation::DeleteConsumerGroup,
        Operation::CreateUser,
        Operation::UpdateUser,
        Operation::DeleteUser,
        Operation::ChangePassword,
        Operation::UpdatePermissions,
        Operation::CreatePersonalAccessToken,
        Operation::DeletePersonalAccessToken,
        Operation::JoinConsumerGroup,
        Operation::LeaveConsumerGroup,
        Operation::SendMessages,
        Operation::StoreConsumerOffset,
        Operation::DeleteConsumerOffset,
    ];

    /// The operation for a header byte. Refuses 0, the server-internal 64..=68 (which a
    /// client must never be able to inject) and values the table does not have.
    pub fn from_u8(value: u8) -> Result<Operation, FrameError> {
        match value {
            0 => Err(FrameError::ReservedOperation),
            64..=68 => Err(FrameError::InternalOperation { value }),
            _ => Operation::ALL
                .iter()
                .copied()
                .find(|operation| *operation as u8 == value)
                .ok_or(FrameError::UnknownOperation { value }),
        }
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The command code of a request with this operation. NonReplicated reads it from header
    /// bytes 196..200 (0 there means the client sent no code: answer InvalidCommand). Register
    /// answers LOGIN_REGISTER: the PAT variant (45) shares the operation and is recognised by
    /// its body (see `requests::Login`).
    pub fn command_code(self, header: &RequestHeader) -> u32 {
        match self {
            Operation::Register => codes::LOGIN_REGISTER,
            Operation::NonReplicated => header.non_replicated_code,
            _ => FIXED_CODES.iter().find(|(operation, _)| *operation == self).map_or(0, |(_, code)| *code),
        }
    }

    /// The operation a client sends `code` under (the SDK's `operation_for_code`): logins are
    /// Register, every code without a replicated operation is NonReplicated.
    pub fn for_command(code: u32) -> Operation {
        if code == codes::LOGIN_REGISTER || code == codes::LOGIN_REGISTER_WITH_PAT {
            return Operation::Register;
        }
        FIXED_CODES
            .iter()
            .find(|(_, known)| *known == code)
            .map_or(Operation::NonReplicated, |(operation, _)| *operation)
    }

    /// Metadata operations: replicated through the metadata log (DeleteSegments is not one).
    pub fn is_metadata(self) -> bool {
        (Operation::CreateStream as u8..=Operation::LeaveConsumerGroup as u8).contains(&(self as u8))
            && self != Operation::DeleteSegments
    }

    /// Whether a successful reply body starts with the result section `[count u32]…`: the
    /// metadata operations, Store/DeleteConsumerOffset, and Register (whose success body is
    /// never empty; the SDK treats an empty Register body as unframed). Not SendMessages,
    /// DeleteSegments, Logout or NonReplicated (trap 5).
    pub fn is_result_framed(self) -> bool {
        self.is_metadata()
            || matches!(self, Operation::Register | Operation::StoreConsumerOffset | Operation::DeleteConsumerOffset)
    }

    /// Whether the SDK reads a reply body of `body_len` bytes as result-framed: as
    /// [`Operation::is_result_framed`], except that an empty Register body is passed through.
    pub fn reply_is_result_framed(self, body_len: usize) -> bool {
        self.is_result_framed() && !(self == Operation::Register && body_len == 0)
    }

    /// Whether the client takes a new request number for it (every operation but
    /// NonReplicated; a Register carries 0).
    pub fn consumes_request_number(self) -> bool {
        !matches!(self, Operation::NonReplicated | Operation::Register)
    }

    /// Whether the client stamps `request_checksum` with `xxh3_64(body)`: every operation but
    /// the partition ones (160..=162) and NonReplicated.
    pub fn stamps_request_checksum(self) -> bool {
        !matches!(
            self,
            Operation::NonReplicated
                | Operation::SendMessages
                | Operation::StoreConsumerOffset
                | Operation::DeleteConsumerOffset
        )
    }
}
