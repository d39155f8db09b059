//! Input generators biased towards what breaks decoders: random bytes of every length up to
//! 4 KiB, and valid encodings with a few structure-aware mutations (a flipped byte, a cut, an
//! extension, a length field patched with a boundary or huge value).

use proptest::prelude::*;
use proptest::sample::{Index, select};

/// Largest arbitrary input.
pub const MAX_LENGTH: usize = 4096;

/// Values that make length and count fields interesting: zero and one, the sizes of the
/// wire's fixed parts, powers of two and their neighbours, the protocol limits, and values
/// that overflow or exhaust memory when trusted.
const INTERESTING_U32: [u32; 28] = [
    0,
    1,
    2,
    3,
    4,
    5,
    8,
    15,
    16,
    47,
    48,
    63,
    64,
    255,
    256,
    257,
    4095,
    4096,
    65_535,
    65_536,
    100_000,
    64_000_000,
    64 * 1024 * 1024,
    64 * 1024 * 1024 + 1,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

const INTERESTING_U8: [u8; 8] = [0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF];

/// One byte, leaning towards the values flags, kinds and short lengths take.
pub fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => any::<u8>(), 1 => select(&INTERESTING_U8[..])]
}

/// A u32 for a length or count field.
pub fn length_u32() -> impl Strategy<Value = u32> {
    prop_oneof![select(&INTERESTING_U32[..]), 0u32..512, any::<u32>()]
}

/// Arbitrary bytes, 0..4096 long, short inputs more often.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(byte(), 0..32),
        prop::collection::vec(byte(), 0..512),
        prop::collection::vec(byte(), 0..MAX_LENGTH),
    ]
}

/// One edit of an encoding.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip { at: Index, mask: u8 },
    /// Overwrite one byte.
    Set { at: Index, value: u8 },
    /// Cut the input at a position.
    Truncate { at: Index },
    /// Append bytes.
    Extend { tail: Vec<u8> },
    /// Insert bytes in the middle.
    Insert { at: Index, bytes: Vec<u8> },
    /// Remove up to `count` bytes.
    Remove { at: Index, count: usize },
    /// Overwrite a little-endian u32 (a length, a count, a size).
    PatchU32 { at: Index, value: u32 },
    /// Overwrite a little-endian u64.
    PatchU64 { at: Index, value: u64 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let short = || prop::collection::vec(byte(), 1..16);
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<Index>(), byte()).prop_map(|(at, value)| Mutation::Set { at, value }),
        2 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => short().prop_map(|tail| Mutation::Extend { tail }),
        1 => (any::<Index>(), short()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<Index>(), 1usize..8).prop_map(|(at, count)| Mutation::Remove { at, count }),
        3 => (any::<Index>(), length_u32()).prop_map(|(at, value)| Mutation::PatchU32 { at, value }),
        1 => (any::<Index>(), prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()])
            .prop_map(|(at, value)| Mutation::PatchU64 { at, value }),
    ]
}

impl Mutation {
    /// Applies the edit; positional edits of an empty input append instead.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            if let Mutation::Extend { tail } | Mutation::Insert { bytes: tail, .. } = self {
                bytes.extend_from_slice(tail);
            }
            return;
        }
        let length = bytes.len();
        match self {
            Mutation::Flip { at, mask } => bytes[at.index(length)] ^= mask,
            Mutation::Set { at, value } => bytes[at.index(length)] = *value,
            Mutation::Truncate { at } => bytes.truncate(at.index(length)),
            Mutation::Extend { tail } => bytes.extend_from_slice(tail),
            Mutation::Insert { at, bytes: inserted } => {
                let at = at.index(length);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Remove { at, count } => {
                let at = at.index(length);
                bytes.drain(at..(at + count).min(length));
            }
            Mutation::PatchU32 { at, value } => patch(bytes, at.index(length), &value.to_le_bytes()),
            Mutation::PatchU64 { at, value } => patch(bytes, at.index(length), &value.to_le_bytes()),
        }
    }
}

/// Overwrites from `at`, cut at the end of `bytes`.
fn patch(bytes: &mut [u8], at: usize, value: &[u8]) {
    let end = (at + value.len()).min(bytes.len());
    bytes[at..end].copy_from_slice(&value[..end - at]);
}

/// Encodings from `valid` with one to four mutations each.
pub fn mutated(valid: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (valid, prop::collection::vec(mutation(), 1..=4)).prop_map(|(mut bytes, mutations)| {
        for mutation in &mutations {
            mutation.apply(&mut bytes);
        }
        bytes
    })
}

/// What a decoder target is fed: arbitrary bytes, valid encodings as they are (which must
/// decode), and mostly mutated valid encodings, which reach past the first field.
pub fn fuzzed(valid: impl Strategy<Value = Vec<u8>> + 'static) -> impl Strategy<Value = Vec<u8>> {
    let valid = valid.boxed();
    prop_oneof![2 => bytes(), 1 => valid.clone(), 5 => mutated(valid)]
}

/// [`fuzzed`] with fixed seed inputs (bytes from real SDK encoders) mixed into the valid ones.
pub fn fuzzed_with(
    valid: impl Strategy<Value = Vec<u8>> + 'static,
    corpus: Vec<Vec<u8>>,
) -> impl Strategy<Value = Vec<u8>> {
    fuzzed(prop_oneof![3 => valid.boxed(), 1 => select(corpus).boxed()])
}
