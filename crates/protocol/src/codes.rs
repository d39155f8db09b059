//! Command codes of the Iggy binary protocol (protocol.md §4).
//!
//! The same numbers are used by both generations: in the legacy framing the code is the second
//! u32 of every request, in VSR framing it is implied by the header's operation byte or, for
//! `NonReplicated` requests, carried in header bytes 196..200 (see [`crate::vsr`]).

pub const PING: u32 = 1;
pub const GET_STATS: u32 = 10;
pub const GET_SNAPSHOT_FILE: u32 = 11;
pub const GET_CLUSTER_METADATA: u32 = 12;
/// V only.
pub const DESCRIBE_OPTIONS: u32 = 13;
/// V cluster routing; only sent when cluster metadata lists more than one node.
pub const ATTACH_CONSUMER_SESSION: u32 = 14;
pub const GET_ME: u32 = 20;
pub const GET_CLIENT: u32 = 21;
pub const GET_CLIENTS: u32 = 22;
pub const GET_USER: u32 = 31;
pub const GET_USERS: u32 = 32;
pub const CREATE_USER: u32 = 33;
pub const DELETE_USER: u32 = 34;
pub const UPDATE_USER: u32 = 35;
pub const UPDATE_PERMISSIONS: u32 = 36;
pub const CHANGE_PASSWORD: u32 = 37;
/// Legacy login; V servers answer it with Eviction(MalformedLogin).
pub const LOGIN_USER: u32 = 38;
pub const LOGOUT_USER: u32 = 39;
/// V login (operation Register).
pub const LOGIN_REGISTER: u32 = 40;
pub const GET_PERSONAL_ACCESS_TOKENS: u32 = 41;
pub const CREATE_PERSONAL_ACCESS_TOKEN: u32 = 42;
pub const DELETE_PERSONAL_ACCESS_TOKEN: u32 = 43;
/// Legacy PAT login; refused by V servers like [`LOGIN_USER`].
pub const LOGIN_WITH_PERSONAL_ACCESS_TOKEN: u32 = 44;
/// V PAT login (operation Register, like [`LOGIN_REGISTER`]).
pub const LOGIN_REGISTER_WITH_PAT: u32 = 45;
pub const POLL_MESSAGES: u32 = 100;
pub const SEND_MESSAGES: u32 = 101;
pub const FLUSH_UNSAVED_BUFFER: u32 = 102;
/// V cluster routing.
pub const GET_POLL_ROUTING: u32 = 103;
/// V cluster routing.
pub const POLL_MESSAGES_ON_PRIMARY: u32 = 104;
pub const GET_CONSUMER_OFFSET: u32 = 120;
pub const STORE_CONSUMER_OFFSET: u32 = 121;
pub const DELETE_CONSUMER_OFFSET: u32 = 122;
/// V cluster routing.
pub const GET_CONSUMER_OFFSET_ROUTING: u32 = 123;
pub const GET_STREAM: u32 = 200;
pub const GET_STREAMS: u32 = 201;
pub const CREATE_STREAM: u32 = 202;
pub const DELETE_STREAM: u32 = 203;
pub const UPDATE_STREAM: u32 = 204;
pub const PURGE_STREAM: u32 = 205;
pub const GET_TOPIC: u32 = 300;
pub const GET_TOPICS: u32 = 301;
pub const CREATE_TOPIC: u32 = 302;
pub const DELETE_TOPIC: u32 = 303;
pub const UPDATE_TOPIC: u32 = 304;
pub const PURGE_TOPIC: u32 = 305;
pub const CREATE_PARTITIONS: u32 = 402;
pub const DELETE_PARTITIONS: u32 = 403;
pub const DELETE_SEGMENTS: u32 = 503;
pub const GET_CONSUMER_GROUP: u32 = 600;
pub const GET_CONSUMER_GROUPS: u32 = 601;
pub const CREATE_CONSUMER_GROUP: u32 = 602;
pub const DELETE_CONSUMER_GROUP: u32 = 603;
pub const JOIN_CONSUMER_GROUP: u32 = 604;
pub const LEAVE_CONSUMER_GROUP: u32 = 605;
/// V only.
pub const SYNC_CONSUMER_GROUP: u32 = 606;

/// Every code of the catalog with its name, in catalog order. One table serves lookups, logs
/// and the tests, so a code cannot be added in one place and forgotten in another.
pub const ALL: [(u32, &str); 55] = [
    (PING, "PING"),
    (GET_STATS, "GET_STATS"),
    (GET_SNAPSHOT_FILE, "GET_SNAPSHOT_FILE"),
    (GET_CLUSTER_METADATA, "GET_CLUSTER_METADATA"),
    (DESCRIBE_OPTIONS, "DESCRIBE_OPTIONS"),
    (ATTACH_CONSUMER_SESSION, "ATTACH_CONSUMER_SESSION"),
    (GET_ME, "GET_ME"),
    (GET_CLIENT, "GET_CLIENT"),
    (GET_CLIENTS, "GET_CLIENTS"),
    (GET_USER, "GET_USER"),
    (GET_USERS, "GET_USERS"),
    (CREATE_USER, "CREATE_USER"),
    (DELETE_USER, "DELETE_USER"),
    (UPDATE_USER, "UPDATE_USER"),
    (UPDATE_PERMISSIONS, "UPDATE_PERMISSIONS"),
    (CHANGE_PASSWORD, "CHANGE_PASSWORD"),
    (LOGIN_USER, "LOGIN_USER"),
    (LOGOUT_USER, "LOGOUT_USER"),
    (LOGIN_REGISTER, "LOGIN_REGISTER"),
    (GET_PERSONAL_ACCESS_TOKENS, "GET_PERSONAL_ACCESS_TOKENS"),
    (CREATE_PERSONAL_ACCESS_TOKEN, "CREATE_PERSONAL_ACCESS_TOKEN"),
    (DELETE_PERSONAL_ACCESS_TOKEN, "DELETE_PERSONAL_ACCESS_TOKEN"),
    (LOGIN_WITH_PERSONAL_ACCESS_TOKEN, "LOGIN_WITH_PERSONAL_ACCESS_TOKEN"),
    (LOGIN_REGISTER_WITH_PAT, "LOGIN_REGISTER_WITH_PAT"),
    (POLL_MESSAGES, "POLL_MESSAGES"),
    (SEND_MESSAGES, "SEND_MESSAGES"),
    (FLUSH_UNSAVED_BUFFER, "FLUSH_UNSAVED_BUFFER"),
    (GET_POLL_ROUTING, "GET_POLL_ROUTING"),
    (POLL_MESSAGES_ON_PRIMARY, "POLL_MESSAGES_ON_PRIMARY"),
    (GET_CONSUMER_OFFSET, "GET_CONSUMER_OFFSET"),
    (STORE_CONSUMER_OFFSET, "STORE_CONSUMER_OFFSET"),
    (DELETE_CONSUMER_OFFSET, "DELETE_CONSUMER_OFFSET"),
    (GET_CONSUMER_OFFSET_ROUTING, "GET_CONSUMER_OFFSET_ROUTING"),
    (GET_STREAM, "GET_STREAM"),
    (GET_STREAMS, "GET_STREAMS"),
    (CREATE_STREAM, "CREATE_STREAM"),
    (DELETE_STREAM, "DELETE_STREAM"),
    (UPDATE_STREAM, "UPDATE_STREAM"),
    (PURGE_STREAM, "PURGE_STREAM"),
    (GET_TOPIC, "GET_TOPIC"),
    (GET_TOPICS, "GET_TOPICS"),
    (CREATE_TOPIC, "CREATE_TOPIC"),
    (DELETE_TOPIC, "DELETE_TOPIC"),
    (UPDATE_TOPIC, "UPDATE_TOPIC"),
    (PURGE_TOPIC, "PURGE_TOPIC"),
    (CREATE_PARTITIONS, "CREATE_PARTITIONS"),
    (DELETE_PARTITIONS, "DELETE_PARTITIONS"),
    (DELETE_SEGMENTS, "DELETE_SEGMENTS"),
    (GET_CONSUMER_GROUP, "GET_CONSUMER_GROUP"),
    (GET_CONSUMER_GROUPS, "GET_CONSUMER_GROUPS"),
    (CREATE_CONSUMER_GROUP, "CREATE_CONSUMER_GROUP"),
    (DELETE_CONSUMER_GROUP, "DELETE_CONSUMER_GROUP"),
    (JOIN_CONSUMER_GROUP, "JOIN_CONSUMER_GROUP"),
    (LEAVE_CONSUMER_GROUP, "LEAVE_CONSUMER_GROUP"),
    (SYNC_CONSUMER_GROUP, "SYNC_CONSUMER_GROUP"),
];

/// The catalog name of a command code (`"CREATE_STREAM"` for 202), `None` for unknown codes.
pub fn name_of(code: u32) -> Option<&'static str> {
    ALL.iter().find(|(known, _)| *known == code).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_name() {
        for (index, (code, name)) in ALL.iter().enumerate() {
            assert_eq!(name_of(*code), Some(*name));
            assert!(ALL[index + 1..].iter().all(|(other, _)| other != code), "{name} listed twice");
        }
    }

    #[test]
    fn catalog_numbers_match_the_reference() {
        assert_eq!((PING, SYNC_CONSUMER_GROUP), (1, 606));
        assert_eq!((LOGIN_USER, LOGIN_REGISTER, LOGIN_REGISTER_WITH_PAT), (38, 40, 45));
        assert_eq!((SEND_MESSAGES, POLL_MESSAGES, DELETE_SEGMENTS), (101, 100, 503));
        assert_eq!(name_of(202), Some("CREATE_STREAM"));
        assert_eq!(name_of(0), None);
        assert_eq!(name_of(15), None, "0.12 BIND_SESSION is not part of 0.11");
    }
}
