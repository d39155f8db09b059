//! The fuzz harness shared by the `fuzz_*` test binaries: a bounded proptest runner, input
//! generators biased towards what breaks decoders, an allocation guard and the checks every
//! decoder target runs. See `../FUZZING.md` for how to run a longer campaign.
//!
//! Each binary uses a different part of this module, so unused items are expected.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod allocation;
pub mod inputs;
pub mod values;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed, TestCaseResult, TestRunner};

pub use inputs::{bytes, fuzzed, fuzzed_with, mutated};

/// Cases per target when `WHIPPET_FUZZ_CASES` is unset: the whole fuzz suite then runs in
/// well under a minute in a debug build on a 2-core machine (see FUZZING.md).
pub const DEFAULT_CASES: u32 = 1024;
/// Cases run by one proptest runner before the time budget is looked at again.
const BATCH_CASES: u32 = 1024;

/// Where this binary keeps the seeds of failing cases: proptest replays them before anything
/// else on every run, so a reproducer found once stays in the repository's suite.
const REGRESSIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proptest-regressions/", env!("CARGO_CRATE_NAME"), ".txt");

/// Cases per target: `WHIPPET_FUZZ_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("WHIPPET_FUZZ_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// Time budget per target: `WHIPPET_FUZZ_SECONDS`, else none.
pub fn budget() -> Option<Duration> {
    std::env::var("WHIPPET_FUZZ_SECONDS").ok().and_then(|text| text.parse().ok()).map(Duration::from_secs)
}

/// Runs `test` on values of `strategy` until [`cases`] have passed or the [`budget`] is
/// spent, in batches of [`BATCH_CASES`]. Panics with the shrunk input on the first failure
/// (a panic inside `test` is a failure too); its seed lands in the regressions file.
pub fn check<S>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let deadline = budget().map(|budget| Instant::now() + budget);
    let total = cases();
    let mut done = 0u32;
    let mut batch = 0u64;
    while done < total && deadline.is_none_or(|deadline| Instant::now() < deadline) {
        let cases = (total - done).min(BATCH_CASES);
        let mut runner = TestRunner::new(config(cases, batch));
        if let Err(error) = runner.run(&strategy, &test) {
            panic!("{error}");
        }
        done += cases;
        batch += 1;
    }
}

fn config(cases: u32, batch: u64) -> ProptestConfig {
    let base = ProptestConfig::default();
    // A fixed PROPTEST_RNG_SEED replays a run; each batch still needs its own values.
    let rng_seed = match base.rng_seed {
        RngSeed::Fixed(seed) => RngSeed::Fixed(seed.wrapping_add(batch)),
        RngSeed::Random => RngSeed::Random,
    };
    ProptestConfig {
        cases,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..base
    }
}

/// `value` written by `encode` into a fresh buffer.
pub fn encoded<T>(value: &T, encode: impl Fn(&T, &mut BytesMut)) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    encode(value, &mut buffer);
    buffer.to_vec()
}

/// Bad input never panics (the runner turns a panic into a failure), never makes one
/// allocation out of proportion to its length, and what decodes re-encodes to bytes that
/// decode to the same value.
pub fn decodes_consistently<T, E>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T, &mut BytesMut),
) -> TestCaseResult
where
    T: PartialEq + Debug,
    E: Debug,
{
    let Ok(value) = allocation::bounded(bytes.len(), || decode(bytes))? else { return Ok(()) };
    let again = decode(&encoded(&value, encode));
    prop_assert_eq!(again.as_ref().ok(), Some(&value), "re-encoding a decoded value changed it: {:?}", again);
    Ok(())
}

/// Like [`decodes_consistently`] for values whose `PartialEq` is not reflexive (floats):
/// the re-encoded bytes must be a fixed point of decode-then-encode.
pub fn decodes_to_fixed_point<T, E>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T, &mut BytesMut),
) -> TestCaseResult
where
    T: Debug,
    E: Debug,
{
    let Ok(value) = allocation::bounded(bytes.len(), || decode(bytes))? else { return Ok(()) };
    let first = encoded(&value, &encode);
    let again = decode(&first);
    prop_assert!(again.is_ok(), "re-encoded {value:?} does not decode: {again:?}");
    if let Ok(again) = again {
        prop_assert_eq!(encoded(&again, &encode), first);
    }
    Ok(())
}

/// A valid value encodes to bytes that decode to itself.
pub fn round_trips<T, E>(
    value: &T,
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T, &mut BytesMut),
) -> TestCaseResult
where
    T: PartialEq + Debug,
    E: Debug,
{
    let bytes = encoded(value, encode);
    let decoded = allocation::bounded(bytes.len(), || decode(&bytes))?;
    prop_assert_eq!(decoded.as_ref().ok(), Some(value), "decoding the encoding gave {:?}", decoded);
    Ok(())
}

/// Two targets for a decoder that has an encoder, each a module holding two tests:
/// `bad_input_never_panics` feeds arbitrary and mutated encodings to
/// [`decodes_consistently`]; `valid_values_round_trip` checks [`round_trips`].
///
/// `target: strategy, decode, encode;` where `decode` is `Fn(&[u8]) -> Result<T, _>` and
/// `encode` is `Fn(&T, &mut BytesMut)`.
macro_rules! codec_targets {
    ($($target:ident: $strategy:expr, $decode:expr, $encode:expr;)+) => {$(
        mod $target {
            use super::*;

            #[test]
            fn bad_input_never_panics() {
                let valid = ($strategy).prop_map(|value| fuzz::encoded(&value, $encode));
                fuzz::check(fuzz::fuzzed(valid), |bytes| fuzz::decodes_consistently(&bytes, $decode, $encode));
            }

            #[test]
            fn valid_values_round_trip() {
                fuzz::check($strategy, |value| fuzz::round_trips(&value, $decode, $encode));
            }
        }
    )+};
}

pub(crate) use codec_targets;

/// Bytes of a hex fixture (whitespace around it ignored).
pub fn hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len()).step_by(2).filter_map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

/// The `name hex` lines of `src/admin_vectors_0.11.txt`: bytes written by the real 0.11 SDK
/// encoders, kept in the repository as the seed corpus of the admin decoders.
pub fn admin_vector(name: &str) -> Vec<u8> {
    const VECTORS: &str = include_str!("../../src/admin_vectors_0.11.txt");
    let line = VECTORS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '));
    hex(line.unwrap_or_else(|| panic!("no admin vector named {name}")))
}
