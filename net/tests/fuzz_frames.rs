//! Fuzz targets for the frame readers (`sniff`, `read_vsr_frame`, `read_legacy_frame`) over
//! random byte streams delivered in random chunks, with an I/O error injected at a random
//! point. What is checked:
//!
//! - no input panics a reader;
//! - a frame whose declared size is out of bounds is refused from its header: nothing of the
//!   body is read and no buffer for it is allocated (a declared 4 GiB frame costs 256 bytes);
//! - a frame within bounds allocates at most its declared size;
//! - valid frames, back to back, come out as they went in.
//!
//! Bounded like the protocol fuzz suite: `WHIPPET_FUZZ_CASES` (default 1024) and
//! `WHIPPET_FUZZ_SECONDS`; failing seeds are kept in `tests/proptest-regressions/`. A longer
//! campaign: `WHIPPET_FUZZ_CASES=1000000 cargo test -p whippet-net --release --test fuzz_frames`
//! (see crates/protocol/tests/FUZZING.md).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::BufResult;
use monoio::buf::{IoBufMut, IoVecBufMut};
use monoio::io::AsyncReadRent;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, RngSeed, TestCaseResult, TestRunner};
use whippet_net::{
    BodyBudget, Dialect, FrameError, LegacyFrame, LegacyFrameError, VsrFrame, read_legacy_frame, read_vsr_frame, sniff,
};
use whippet_protocol::codes;
use whippet_protocol::legacy::payload_cap;
use whippet_protocol::vsr::{HEADER_SIZE, MAX_FRAME_SIZE, RequestHeader};

// --- the runner (as crates/protocol/tests/fuzz/mod.rs) ---

const DEFAULT_CASES: u32 = 1024;
const BATCH_CASES: u32 = 1024;
const REGRESSIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proptest-regressions/fuzz_frames.txt");

/// Runs `test` for `WHIPPET_FUZZ_CASES` cases or until `WHIPPET_FUZZ_SECONDS` pass, in
/// batches; panics with the shrunk input on the first failure.
fn check<S>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let total = env_number("WHIPPET_FUZZ_CASES").map_or(DEFAULT_CASES, |cases| cases as u32);
    let deadline = env_number("WHIPPET_FUZZ_SECONDS").map(|seconds| Instant::now() + Duration::from_secs(seconds));
    let (mut done, mut batch) = (0u32, 0u64);
    while done < total && deadline.is_none_or(|deadline| Instant::now() < deadline) {
        let cases = (total - done).min(BATCH_CASES);
        let base = ProptestConfig::default();
        let rng_seed = match base.rng_seed {
            RngSeed::Fixed(seed) => RngSeed::Fixed(seed.wrapping_add(batch)),
            RngSeed::Random => RngSeed::Random,
        };
        let config = ProptestConfig {
            cases,
            rng_seed,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
            ..base
        };
        if let Err(error) = TestRunner::new(config).run(&strategy, &test) {
            panic!("{error}");
        }
        done += cases;
        batch += 1;
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

// --- the allocation guard (as crates/protocol/tests/fuzz/allocation.rs) ---

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

struct Tracking;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn record_allocation(size: usize) {
    let _ = MEASURING.try_with(|measuring| {
        if measuring.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_allocation(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_allocation(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        record_allocation(size);
        // SAFETY: as for `dealloc`; `size` is the caller's.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

/// Runs `work` and returns its result with the largest single allocation it made on this
/// thread.
fn largest_allocation<T>(work: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    MEASURING.with(|measuring| measuring.set(true));
    let result = work();
    MEASURING.with(|measuring| measuring.set(false));
    (result, LARGEST.with(Cell::get))
}

/// What reading a header may allocate besides the body: the header buffers.
const HEADER_ALLOCATION_MAX: usize = 4096;

// --- an in-memory stream ---

/// Bytes handed out in chunks of the given sizes (cycling), failing with ConnectionReset
/// once `fault_at` bytes have been read, then at the end, EOF.
#[derive(Debug, Clone)]
struct Stream {
    bytes: Vec<u8>,
    chunks: Vec<usize>,
    fault_at: Option<usize>,
    position: usize,
    reads: usize,
    /// The largest buffer a reader asked to fill: what it was about to read at once.
    largest_request: usize,
}

impl Stream {
    fn new(bytes: Vec<u8>, chunks: Vec<usize>, fault_at: Option<usize>) -> Stream {
        Stream { bytes, chunks, fault_at, position: 0, reads: 0, largest_request: 0 }
    }

    /// The bytes the next read may hand out, or the injected fault.
    fn window(&mut self) -> io::Result<&[u8]> {
        let chunk = self.chunks.get(self.reads % self.chunks.len().max(1)).copied().unwrap_or(usize::MAX).max(1);
        self.reads += 1;
        let mut end = self.bytes.len().min(self.position.saturating_add(chunk));
        if let Some(fault_at) = self.fault_at {
            if self.position >= fault_at {
                return Err(io::Error::from(io::ErrorKind::ConnectionReset));
            }
            end = end.min(fault_at);
        }
        Ok(&self.bytes[self.position..end])
    }

    /// Whether a reader that wants `length` bytes in all runs into the fault (which sits at
    /// or before the end of the bytes) before it has them.
    fn faults_before(&self, length: usize) -> bool {
        self.fault_at.is_some_and(|fault_at| fault_at < length)
    }
}

impl AsyncReadRent for Stream {
    fn read<T: IoBufMut>(&mut self, mut buffer: T) -> impl Future<Output = BufResult<usize, T>> {
        self.largest_request = self.largest_request.max(buffer.bytes_total());
        async move {
            let mut window = match self.window() {
                Ok(window) => window,
                Err(error) => return (Err(error), buffer),
            };
            let (result, buffer) = window.read(buffer).await;
            if let Ok(count) = result {
                self.position += count;
            }
            (result, buffer)
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buffer: T) -> BufResult<usize, T> {
        let mut window = match self.window() {
            Ok(window) => window,
            Err(error) => return (Err(error), buffer),
        };
        let (result, buffer) = window.readv(buffer).await;
        if let Ok(count) = result {
            self.position += count;
        }
        (result, buffer)
    }
}

/// Drives a future that never waits (the stream is in memory) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("an in-memory read did not complete");
}

// --- inputs ---

const INTERESTING_SIZES: [u32; 14] =
    [0, 1, 3, 4, 5, 255, 256, 257, 4096, MAX_FRAME_SIZE, MAX_FRAME_SIZE + 1, 0x7FFF_FFFF, 0xFFFF_FFFE, u32::MAX];

fn size_field() -> impl Strategy<Value = u32> {
    prop_oneof![prop::sample::select(&INTERESTING_SIZES[..]), 0u32..1024, any::<u32>()]
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![3 => 1usize..8, 2 => 1usize..300, 1 => Just(usize::MAX)], 1..6)
}

/// Splits `bytes` into a stream with random chunking and maybe a fault.
fn stream_of(bytes: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Stream> {
    (bytes, chunks(), prop::option::weighted(0.2, any::<Index>())).prop_map(|(bytes, chunks, fault)| {
        let fault_at = fault.map(|at| at.index(bytes.len() + 1));
        Stream::new(bytes, chunks, fault_at)
    })
}

fn body(most: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..most)
}

/// A valid VSR request frame: header, then the body its size announces.
fn vsr_frame() -> impl Strategy<Value = Vec<u8>> {
    (any::<u128>(), any::<u128>(), any::<u8>(), body(300)).prop_map(|(cluster, client, operation, body)| {
        let size = (HEADER_SIZE + body.len()) as u32;
        let header = RequestHeader { cluster, size, client, operation, ..RequestHeader::default() };
        [&header.encode()[..], &body].concat()
    })
}

/// A valid legacy request frame: `[length u32][code u32][payload]`, length = 4 + payload.
fn legacy_frame() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![Just(codes::SEND_MESSAGES), Just(codes::PING), Just(codes::POLL_MESSAGES), any::<u32>()];
    (code, body(300)).prop_map(|(code, payload)| {
        let length = 4 + payload.len() as u32;
        [&length.to_le_bytes()[..], &code.to_le_bytes(), &payload].concat()
    })
}

/// Frames as they are, with their size or length field (at `field`) set to a boundary or
/// huge value or nudged off by a few bytes, with a flipped byte, or random bytes; each
/// followed by a few bytes of whatever comes next.
fn hostile(frame: impl Strategy<Value = Vec<u8>> + 'static, field: usize) -> impl Strategy<Value = Vec<u8>> {
    let exact = (frame, body(16)).prop_map(|(frame, tail)| [frame, tail].concat()).boxed();
    let patch = move |bytes: &mut Vec<u8>, size: u32| {
        if bytes.len() >= field + 4 {
            bytes[field..field + 4].copy_from_slice(&size.to_le_bytes());
        }
    };
    let patched = (exact.clone(), size_field())
        .prop_map(move |(mut bytes, size)| {
            patch(&mut bytes, size);
            bytes
        })
        .boxed();
    let nudged = (exact.clone(), -8i32..=8).prop_map(move |(mut bytes, delta)| {
        if bytes.len() >= field + 4 {
            let size = u32_at(&bytes, field).wrapping_add_signed(delta);
            patch(&mut bytes, size);
        }
        bytes
    });
    let flipped =
        (prop_oneof![exact.clone(), patched.clone()], any::<Index>(), 1u8..=255).prop_map(|(mut bytes, at, mask)| {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            bytes
        });
    prop_oneof![3 => exact, 3 => patched, 2 => nudged, 2 => flipped, 1 => body(600)]
}

fn max_frame() -> impl Strategy<Value = u32> {
    prop_oneof![Just(MAX_FRAME_SIZE), Just(HEADER_SIZE as u32), Just(300u32), Just(4096u32), 256u32..1 << 20]
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

// --- sniff ---

#[test]
fn sniff_never_panics() {
    check(stream_of(prop_oneof![body(16), vsr_frame(), legacy_frame()]), |mut stream| {
        let bytes = stream.bytes.clone();
        let faulted = stream.faults_before(4);
        match block_on(sniff(&mut stream)) {
            Ok(Some((first, dialect))) => {
                prop_assert_eq!(&first[..], &bytes[..4]);
                prop_assert_eq!(dialect == Dialect::Vsr, bytes[..4] == [0, 0, 0, 0]);
            }
            Ok(None) => prop_assert!(bytes.len() < 4 && !faulted, "no dialect from {} bytes", bytes.len()),
            Err(FrameError::Io(_)) => prop_assert!(faulted, "an I/O error without a fault"),
            Err(error) => prop_assert!(false, "sniff failed with {error}"),
        }
        prop_assert!(stream.position <= 4);
        Ok(())
    });
}

// --- VSR frames ---

/// Reads one VSR frame, optionally after sniffing its first four bytes, and checks the
/// outcome against the declared size: refused from the header when out of bounds, read in
/// full when the bytes are there, with allocations bounded by the declared size.
fn read_one_vsr(mut stream: Stream, max_frame: u32, sniffed: bool) -> TestCaseResult {
    let bytes = stream.bytes.clone();
    let (result, largest) = largest_allocation(|| {
        block_on(async {
            let prefix = if sniffed { sniff(&mut stream).await?.map(|(first, _)| first) } else { None };
            if sniffed && prefix.is_none() {
                return Err(FrameError::Closed);
            }
            read_vsr_frame(&mut stream, prefix, max_frame, &BodyBudget::new(0, max_frame)).await
        })
    });
    let faulted = stream.faults_before(HEADER_SIZE);
    if bytes.len() < HEADER_SIZE || faulted {
        prop_assert!(matches!(result, Err(FrameError::Closed | FrameError::Io(_))), "{result:?}");
        return Ok(());
    }
    let size = u32_at(&bytes, 48);
    if size < HEADER_SIZE as u32 || size > max_frame {
        prop_assert!(matches!(result, Err(FrameError::BadSize { .. })), "size {size} of max {max_frame}: {result:?}");
        prop_assert_eq!(stream.position, HEADER_SIZE, "the body of a refused frame was read");
        prop_assert!(stream.largest_request <= HEADER_SIZE);
        prop_assert!(largest <= HEADER_ALLOCATION_MAX, "a refused frame allocated {largest} bytes");
        return Ok(());
    }
    let size = size as usize;
    prop_assert!(largest <= size.max(HEADER_ALLOCATION_MAX), "a {size}-byte frame allocated {largest} bytes");
    match result {
        Ok(VsrFrame { header, body }) => {
            prop_assert_eq!(&header[..], &bytes[..HEADER_SIZE]);
            prop_assert_eq!(&body[..], &bytes[HEADER_SIZE..size]);
            prop_assert_eq!(stream.position, size);
        }
        Err(FrameError::Closed) => prop_assert!(bytes.len() < size, "{} bytes were there for {size}", bytes.len()),
        Err(FrameError::Io(_)) => prop_assert!(stream.faults_before(size)),
        Err(error) => prop_assert!(false, "unexpected {error}"),
    }
    Ok(())
}

#[test]
fn vsr_frames_never_panic() {
    let input = (stream_of(hostile(vsr_frame(), 48)), max_frame(), any::<bool>());
    check(input, |(stream, max_frame, sniffed)| read_one_vsr(stream, max_frame, sniffed));
}

/// A header declaring 4 GiB (or anything past the limit) and nothing after it: refused
/// from the header, 256 bytes read, no body buffer.
#[test]
fn oversized_vsr_frames_fail_fast() {
    let oversized = prop_oneof![Just(u32::MAX), MAX_FRAME_SIZE + 1..=u32::MAX];
    check((oversized, vsr_frame(), chunks()), |(size, mut frame, chunks)| {
        frame[48..52].copy_from_slice(&size.to_le_bytes());
        frame.truncate(HEADER_SIZE);
        read_one_vsr(Stream::new(frame, chunks, None), MAX_FRAME_SIZE, false)
    });
}

#[test]
fn vsr_frames_round_trip() {
    let frames = prop::collection::vec(vsr_frame(), 1..5);
    check((frames, chunks()), |(frames, chunks)| {
        let mut stream = Stream::new(frames.concat(), chunks, None);
        block_on(async {
            let first = sniff(&mut stream).await;
            let Ok(Some((prefix, Dialect::Vsr))) = first else {
                prop_assert!(false, "a VSR stream sniffed as {first:?}");
                return Ok(());
            };
            let mut prefix = Some(prefix);
            for frame in &frames {
                let read =
                    read_vsr_frame(&mut stream, prefix.take(), MAX_FRAME_SIZE, &BodyBudget::new(0, MAX_FRAME_SIZE))
                        .await;
                let Ok(VsrFrame { header, body }) = read else {
                    prop_assert!(false, "a valid frame was refused: {read:?}");
                    return Ok(());
                };
                prop_assert_eq!([&header[..], &body[..]].concat(), frame.clone());
            }
            let end = read_vsr_frame(&mut stream, None, MAX_FRAME_SIZE, &BodyBudget::new(0, MAX_FRAME_SIZE)).await;
            prop_assert!(matches!(end, Err(FrameError::Closed)), "{end:?}");
            Ok(())
        })
    });
}

// --- legacy frames ---

/// Reads one legacy frame under the caps of `payload_cap`, optionally after sniffing, and
/// checks it as [`read_one_vsr`] does.
fn read_one_legacy(mut stream: Stream, max_frame: u32, sniffed: bool) -> TestCaseResult {
    let bytes = stream.bytes.clone();
    let max_payload = |code| payload_cap(code, max_frame);
    let (result, largest) = largest_allocation(|| {
        block_on(async {
            let prefix = if sniffed { sniff(&mut stream).await?.map(|(first, _)| first) } else { None };
            if sniffed && prefix.is_none() {
                return Err(LegacyFrameError::Frame(FrameError::Closed));
            }
            read_legacy_frame(&mut stream, prefix, max_payload, &BodyBudget::new(u64::from(u32::MAX), 0)).await
        })
    });
    if bytes.len() < 8 || stream.faults_before(8) {
        let closed = matches!(result, Err(LegacyFrameError::Frame(FrameError::Closed | FrameError::Io(_))));
        prop_assert!(closed, "{result:?}");
        return Ok(());
    }
    let (length, code) = (u32_at(&bytes, 0), u32_at(&bytes, 4));
    if length < 4 || length - 4 > max_payload(code) {
        prop_assert!(matches!(result, Err(LegacyFrameError::BadLength { .. })), "length {length}: {result:?}");
        prop_assert_eq!(stream.position, 8, "the payload of a refused frame was read");
        prop_assert!(stream.largest_request <= 8);
        prop_assert!(largest <= HEADER_ALLOCATION_MAX, "a refused frame allocated {largest} bytes");
        return Ok(());
    }
    let end = 4 + length as usize;
    prop_assert!(largest <= end.max(HEADER_ALLOCATION_MAX), "a {end}-byte frame allocated {largest} bytes");
    match result {
        Ok(LegacyFrame { code: read_code, payload }) => {
            prop_assert_eq!(read_code, code);
            prop_assert_eq!(&payload[..], &bytes[8..end]);
            prop_assert_eq!(stream.position, end);
        }
        Err(LegacyFrameError::Frame(FrameError::Closed)) => prop_assert!(bytes.len() < end),
        Err(LegacyFrameError::Frame(FrameError::Io(_))) => prop_assert!(stream.faults_before(end)),
        Err(error) => prop_assert!(false, "unexpected {error}"),
    }
    Ok(())
}

#[test]
fn legacy_frames_never_panic() {
    let input = (stream_of(hostile(legacy_frame(), 0)), max_frame(), any::<bool>());
    check(input, |(stream, max_frame, sniffed)| read_one_legacy(stream, max_frame, sniffed));
}

/// A legacy header declaring 4 GiB (SendMessages, whose cap is the whole frame limit, or a
/// control command capped at 10 MiB) and nothing after it: refused from the header.
#[test]
fn oversized_legacy_frames_fail_fast() {
    let code = prop_oneof![Just(codes::SEND_MESSAGES), Just(codes::PING), any::<u32>()];
    check((MAX_FRAME_SIZE..=u32::MAX, code, chunks()), |(length, code, chunks)| {
        let header = [length.to_le_bytes(), code.to_le_bytes()].concat();
        read_one_legacy(Stream::new(header, chunks, None), MAX_FRAME_SIZE, false)
    });
}

#[test]
fn legacy_frames_round_trip() {
    let frames = prop::collection::vec(legacy_frame(), 1..5);
    check((frames, chunks()), |(frames, chunks)| {
        let mut stream = Stream::new(frames.concat(), chunks, None);
        let max_payload = |code| payload_cap(code, MAX_FRAME_SIZE);
        block_on(async {
            let first = sniff(&mut stream).await;
            let Ok(Some((prefix, Dialect::Legacy))) = first else {
                prop_assert!(false, "a legacy stream sniffed as {first:?}");
                return Ok(());
            };
            let mut prefix = Some(prefix);
            for frame in &frames {
                let read = read_legacy_frame(
                    &mut stream,
                    prefix.take(),
                    max_payload,
                    &BodyBudget::new(u64::from(u32::MAX), 0),
                )
                .await;
                let Ok(LegacyFrame { code, payload }) = read else {
                    prop_assert!(false, "a valid frame was refused: {read:?}");
                    return Ok(());
                };
                prop_assert_eq!(code, u32_at(frame, 4));
                prop_assert_eq!(&payload[..], &frame[8..]);
            }
            let end = read_legacy_frame(&mut stream, None, max_payload, &BodyBudget::new(u64::from(u32::MAX), 0)).await;
            prop_assert!(matches!(end, Err(LegacyFrameError::Frame(FrameError::Closed))), "{end:?}");
            Ok(())
        })
    });
}

/// The guard this file relies on sees allocations, so a target cannot pass blind.
#[test]
fn allocation_guard_sees_large_allocations() {
    let (_, largest) = largest_allocation(|| BytesMut::with_capacity(1 << 20));
    assert!(largest >= 1 << 20, "largest allocation seen: {largest}");
}
