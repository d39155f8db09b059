//! The option catalogs DESCRIBE_OPTIONS serves (§2.8).
//!
//! Keys, canonical kinds and defaults are those of [C11] `types/options/mod.rs`: the keys of
//! `TOPIC_OPTION_KEYS`, the kinds `TopicCreateOptions::to_option_map` stores each key as
//! (`HeaderValue::from(u64)` is Uint64, `from(u32)` Uint32, `from(bool)` Bool, names String),
//! and the `DEFAULT_*` constants. The descriptions are ours, written from that file's doc
//! comments: the server-side text Iggy sends was not available to copy. Stream and user
//! catalogs are empty in 0.11 (`UPDATABLE_STREAM_OPTION_KEYS`, `UPDATABLE_USER_OPTION_KEYS`).

use super::{OptionDescriptor, OptionsScope};
use crate::types::KIND_STRING;

/// User-header kind codes (§2.7) the catalog uses besides String.
pub const KIND_BOOL: u8 = 3;
pub const KIND_UINT32: u8 = 11;
pub const KIND_UINT64: u8 = 12;

/// The topic keys an UpdateTopic options block may carry ([C11] `UPDATABLE_TOPIC_OPTION_KEYS`).
pub const UPDATABLE_TOPIC_OPTION_KEYS: [&str; 3] = ["compression_algorithm", "message_expiry", "max_topic_size"];

/// The catalog of `scope`: the topic catalog, or empty for streams and users.
pub fn option_catalog(scope: OptionsScope) -> Vec<OptionDescriptor> {
    match scope {
        OptionsScope::Topic => topic_option_catalog(),
        OptionsScope::Stream | OptionsScope::User => Vec::new(),
    }
}

/// The nine topic keys in `TOPIC_OPTION_KEYS` order.
pub fn topic_option_catalog() -> Vec<OptionDescriptor> {
    let entry = |key: &str, kind: u8, default_value: Vec<u8>, description: &str| OptionDescriptor {
        key: key.to_owned(),
        kind,
        default_value,
        description: description.to_owned(),
    };
    let uint64 = |value: u64| value.to_le_bytes().to_vec();
    vec![
        entry("compression_algorithm", KIND_STRING, b"none".to_vec(), "Compression algorithm name: none or gzip."),
        entry(
            "message_expiry",
            KIND_UINT64,
            uint64(u64::MAX),
            "Message expiry in microseconds (Uint64) or a duration string such as \"7 days\"; u64::MAX never expires.",
        ),
        entry(
            "max_topic_size",
            KIND_UINT64,
            uint64(u64::MAX),
            "Topic size cap in bytes (Uint64) or a size string such as \"1 GiB\"; u64::MAX is unlimited.",
        ),
        entry(
            "segment_size",
            KIND_UINT64,
            uint64(1024 * 1024 * 1024),
            "Segment size in bytes (Uint64) or a size string such as \"128 MiB\": \
             a multiple of 512 from 1 MiB up to the server's ceiling.",
        ),
        entry(
            "durability",
            KIND_STRING,
            b"replicated".to_vec(),
            "Message completion policy: replicated (quorum commit) or persisted (stable-storage copies).",
        ),
        entry(
            "consumer_offset_durability",
            KIND_STRING,
            b"replicated".to_vec(),
            "Consumer offset completion policy: replicated or persisted.",
        ),
        entry(
            "messages_required_to_save",
            KIND_UINT32,
            1024u32.to_le_bytes().to_vec(),
            "Flush the journal once it holds this many messages (Uint32, non-zero).",
        ),
        entry(
            "size_of_messages_required_to_save",
            KIND_UINT64,
            uint64(1024 * 1024),
            "Flush the journal once it holds this many bytes (Uint64 or a size string); \
             whichever threshold trips first flushes.",
        ),
        entry(
            "preallocate_segments",
            KIND_BOOL,
            vec![0],
            "Reserve each segment's bytes up front where the filesystem supports it \
             (Bool, or the strings true / false).",
        ),
    ]
}
