//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use std::future::Future;

use bytes::BytesMut;
use whippet_protocol::batch::{Frames, RecordBuilder};
use whippet_storage::{PartitionConfig, Polled};

/// Runs `future` on a monoio runtime with the io_uring driver and a timer, as a shard does.
pub fn run<F: Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("io_uring runtime")
        .block_on(future)
}

/// The payload of message `index` of record `record`: deterministic, so a reader can check it.
pub fn payload(record: u64, index: u32, size: usize) -> Vec<u8> {
    let seed = record.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(index);
    (0..size).map(|i| (seed.wrapping_add(i as u64 * 31) >> 3) as u8).collect()
}

/// A producer's record of `count` messages of `size` bytes, ids `record * 1000 + i + 1`.
pub fn record(record: u64, count: u32, size: usize) -> BytesMut {
    let mut builder = RecordBuilder::new(1_000_000 + record);
    for i in 0..count {
        builder.push(u128::from(record * 1000 + u64::from(i) + 1), 1_000_000 + record, &payload(record, i, size), b"");
    }
    builder.finish()
}

/// Every message of a read as (offset, id, payload), walking records by their headers.
pub fn messages(polled: &Polled) -> Vec<(u64, u128, Vec<u8>)> {
    let mut joined = Vec::new();
    polled.chunks.iter().for_each(|c| joined.extend_from_slice(c));
    let mut out = Vec::new();
    let mut at = 0;
    while at < joined.len() {
        let header = whippet_protocol::batch::BatchHeader::read(&joined[at..]).expect("header");
        let record = &joined[at..at + header.batch_length as usize];
        for frame in Frames::new(record) {
            out.push((header.base_offset + u64::from(frame.offset_delta), frame.id, frame.payload(record).to_vec()));
        }
        at += header.batch_length as usize;
    }
    out
}

pub fn small_segments(segment_size: u64) -> PartitionConfig {
    PartitionConfig { segment_size, ..PartitionConfig::default() }
}
