//! Helpers shared by the unit tests: hex fixtures and proptest strategies for the wire types.

/// Decodes a hex fixture, ignoring surrounding whitespace.
pub fn hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

pub mod strategies {
    use proptest::prelude::*;

    use crate::types::{Consumer, ConsumerKind, Identifier, OptionValue, Options, Partitioning, PollingStrategy};

    /// A valid `Name`: 1..=255 bytes of UTF-8 (multi-byte characters included).
    pub fn name() -> impl Strategy<Value = String> {
        "[a-z0-9_.é-]{1,80}".prop_filter("fits a Name", |name| !name.is_empty() && name.len() <= 255)
    }

    /// Text that may be empty and fits a u8 length.
    pub fn short_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9!@# ]{0,100}"
    }

    pub fn identifier() -> impl Strategy<Value = Identifier> {
        prop_oneof![any::<u32>().prop_map(Identifier::Numeric), name().prop_map(Identifier::Name)]
    }

    pub fn consumer() -> impl Strategy<Value = Consumer> {
        (prop_oneof![Just(ConsumerKind::Consumer), Just(ConsumerKind::Group)], identifier())
            .prop_map(|(kind, id)| Consumer { kind, id })
    }

    pub fn partitioning() -> impl Strategy<Value = Partitioning> {
        prop_oneof![
            Just(Partitioning::Balanced),
            any::<u32>().prop_map(Partitioning::PartitionId),
            prop::collection::vec(any::<u8>(), 1..=255).prop_map(Partitioning::MessagesKey),
        ]
    }

    pub fn polling_strategy() -> impl Strategy<Value = PollingStrategy> {
        prop_oneof![
            any::<u64>().prop_map(PollingStrategy::Offset),
            any::<u64>().prop_map(PollingStrategy::Timestamp),
            Just(PollingStrategy::First),
            Just(PollingStrategy::Last),
            Just(PollingStrategy::Next),
        ]
    }

    pub fn options() -> impl Strategy<Value = Options> {
        let value = (1u8..=255, prop::collection::vec(any::<u8>(), 1..=40))
            .prop_map(|(kind, bytes)| OptionValue { kind, bytes });
        prop::collection::btree_map(name(), value, 0..6).prop_map(|pairs| Options(pairs.into_iter().collect()))
    }
}
