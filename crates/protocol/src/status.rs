//! Status codes carried in the reply `status` field (V, offset 216) or the first u32 of a
//! legacy response (protocol.md §8). The numbers are the `#[repr(u32)]` discriminants of
//! Iggy's `IggyError`, so they must never be renumbered.
//!
//! This is the wire vocabulary only; each layer keeps its own precise error enum and maps it
//! here at the edge.

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)+) => {
        /// An Iggy status code. Unknown codes do not decode (see [`ErrorCode::from_u32`]); the
        /// SDK itself turns any code it does not know into [`ErrorCode::Error`].
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $value,)+
        }

        impl ErrorCode {
            /// Every code, in ascending order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)+];

            /// The code for `value`, `None` when the catalog has no such code.
            pub fn from_u32(value: u32) -> Option<ErrorCode> {
                match value {
                    $($value => Some(ErrorCode::$name),)+
                    _ => None,
                }
            }

            /// The variant name as Iggy spells it (`"StreamNameAlreadyExists"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)+
                }
            }
        }
    };
}

error_codes! {
    /// Generic failure; also what the SDK reports for codes it does not know.
    Error = 1,
    InvalidConfiguration = 2,
    /// Malformed request, unknown command code, bad frame.
    InvalidCommand = 3,
    /// The SDK raises it for reply bodies it cannot decode; MalformedLogin evictions map to it.
    InvalidFormat = 4,
    FeatureUnavailable = 5,
    InvalidIdentifier = 6,
    InvalidVersion = 7,
    /// Client side: triggers a reconnect.
    Disconnected = 8,
    /// Client side: part of the SDK's reconnect set.
    CannotEstablishConnection = 9,
    ResourceNotFound = 20,
    /// Heartbeat timeout; the client reconnects.
    StaleClient = 30,
    /// Client side: part of the SDK's reconnect set.
    TcpError = 31,
    /// Not logged in; the SDK reconnects and logs in again when it has credentials.
    Unauthenticated = 40,
    /// Permission denied.
    Unauthorized = 41,
    InvalidCredentials = 42,
    InvalidUsername = 43,
    InvalidPassword = 44,
    InvalidUserStatus = 45,
    UserAlreadyExists = 46,
    UserInactive = 47,
    CannotDeleteUser = 48,
    CannotChangePermissions = 49,
    InvalidPersonalAccessTokenName = 50,
    PersonalAccessTokenAlreadyExists = 51,
    PersonalAccessTokensLimitReached = 52,
    InvalidPersonalAccessToken = 53,
    PersonalAccessTokenExpired = 54,
    UsersLimitReached = 55,
    InvalidPersonalAccessTokenExpiry = 56,
    /// V: the SDK re-sends the same request every 50 ms for up to 30 s.
    TransientNotCommitted = 57,
    /// V: the SDK retries for about 2 s, then re-checks the leader.
    TransientNotAccepted = 58,
    RequestAlreadyApplied = 59,
    /// Client side: part of the SDK's reconnect set.
    NotConnected = 61,
    InvalidUtf8 = 81,
    /// The legacy server closes the connection after sending it.
    ClientNotFound = 100,
    InvalidClientId = 101,
    ConnectionClosed = 206,
    /// Client side: part of the SDK's reconnect set.
    EmptyResponse = 304,
    StreamIdNotFound = 1009,
    StreamNameNotFound = 1010,
    StreamNameAlreadyExists = 1012,
    InvalidStreamName = 1013,
    InvalidStreamId = 1014,
    InvalidTopicSize = 1019,
    TooManyStreams = 1020,
    TopicIdNotFound = 2010,
    TopicNameNotFound = 2011,
    TopicNameAlreadyExists = 2013,
    InvalidTopicName = 2014,
    TooManyPartitions = 2015,
    InvalidTopicId = 2016,
    InvalidReplicationFactor = 2018,
    InvalidPartitionsCount = 2019,
    TooManyTopics = 2021,
    PartitionNotFound = 3007,
    NoPartitions = 3008,
    ConsumerOffsetNotFound = 3021,
    NotResolvedConsumer = 3022,
    SegmentNotFound = 4000,
    InvalidSegmentSize = 4002,
    /// An append refused because the disk is full (or its partition is recovering from a full
    /// disk); retry once space returns.
    CannotSaveMessagesToSegment = 4006,
    InvalidMessagesCount = 4009,
    /// An append refused because its partition failed on an I/O error; a restart recovers it.
    CannotAppendMessage = 4010,
    TooBigUserHeaders = 4017,
    InvalidHeaderKey = 4018,
    InvalidHeaderValue = 4019,
    TooBigMessagePayload = 4022,
    TooManyMessages = 4023,
    EmptyMessagePayload = 4024,
    InvalidMessagePayloadLength = 4025,
    InvalidMessageChecksum = 4027,
    InvalidKeyValueLength = 4028,
    CommandLengthError = 4029,
    InvalidSegmentsCount = 4030,
    /// Legacy index validation.
    NonZeroOffset = 4031,
    /// Legacy index validation.
    NonZeroTimestamp = 4032,
    MissingIndex = 4033,
    InvalidIndexesByteSize = 4034,
    InvalidIndexesCount = 4035,
    InvalidMessagesSize = 4036,
    TooSmallMessage = 4037,
    InvalidMessageTimestampDelta = 4038,
    InvalidBatchChecksum = 4039,
    InvalidHeaderKind = 4040,
    UnsupportedOptionKey = 4041,
    InvalidOptionValue = 4042,
    OptionsBlockTooLarge = 4043,
    InvalidOffset = 4100,
    InvalidReservedField = 4101,
    ConsumerGroupIdNotFound = 5000,
    InvalidConsumerGroupId = 5002,
    ConsumerGroupNameNotFound = 5003,
    /// The SDK's high-level consumer treats it as success when auto-creating a group.
    ConsumerGroupNameAlreadyExists = 5004,
    InvalidConsumerGroupName = 5005,
    /// The V SDK raises it itself when SYNC_CONSUMER_GROUP says "not a member".
    ConsumerGroupMemberNotFound = 5006,
    /// V: the SDK drops its assignment, re-syncs and retries once.
    ConsumerGroupPartitionNotOwned = 5009,
    SnapshotFileCompletionFailed = 9000,
    /// A change other than an append (consumer offset, purge, metadata) that could not be
    /// written: a full disk or a failed partition.
    CannotWriteToFile = 10006,
    AlreadyAuthenticated = 14000,
    /// The SDK raises it for a login reply whose session is 0.
    InvalidSession = 14001,
    /// Built by the SDK from an IncompatibleProtocol eviction with a valid window.
    IncompatibleProtocolVersion = 14003,
}

impl ErrorCode {
    /// The number written on the wire.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        code.as_u32()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} ({})", self.name(), self.as_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_reference_table() {
        let expected = [
            (ErrorCode::Error, 1),
            (ErrorCode::InvalidCommand, 3),
            (ErrorCode::InvalidFormat, 4),
            (ErrorCode::InvalidIdentifier, 6),
            (ErrorCode::Unauthenticated, 40),
            (ErrorCode::InvalidPassword, 44),
            (ErrorCode::StreamIdNotFound, 1009),
            (ErrorCode::StreamNameAlreadyExists, 1012),
            (ErrorCode::TopicNameAlreadyExists, 2013),
            (ErrorCode::TooManyPartitions, 2015),
            (ErrorCode::PartitionNotFound, 3007),
            (ErrorCode::ConsumerOffsetNotFound, 3021),
            (ErrorCode::CannotSaveMessagesToSegment, 4006),
            (ErrorCode::InvalidMessagesCount, 4009),
            (ErrorCode::CannotAppendMessage, 4010),
            (ErrorCode::UnsupportedOptionKey, 4041),
            (ErrorCode::ConsumerGroupNameAlreadyExists, 5004),
            (ErrorCode::ConsumerGroupPartitionNotOwned, 5009),
            (ErrorCode::CannotWriteToFile, 10006),
            (ErrorCode::IncompatibleProtocolVersion, 14003),
        ];
        for (code, number) in expected {
            assert_eq!(code.as_u32(), number, "{}", code.name());
        }
    }

    #[test]
    fn every_code_round_trips_and_is_listed_once_in_order() {
        for pair in ErrorCode::ALL.windows(2) {
            assert!(pair[0].as_u32() < pair[1].as_u32(), "{} out of order", pair[1]);
        }
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_u32(code.as_u32()), Some(code));
        }
        assert_eq!(ErrorCode::from_u32(0), None);
        assert_eq!(ErrorCode::from_u32(1011), None);
        assert_eq!(ErrorCode::StreamNameAlreadyExists.to_string(), "StreamNameAlreadyExists (1012)");
    }
}
