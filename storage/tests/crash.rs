//! A real crash test: the test binary runs itself as a child process that appends under
//! `Durability::Always` with several appends in flight, reporting every acknowledged append on
//! stdout, and the parent kills it with SIGKILL at a random moment. After each kill the parent
//! recovers the partition in-process and checks that nothing acknowledged was lost and that
//! everything recovered is valid. The same directory is used for every cycle, so each cycle
//! also starts from the previous crash's recovery.
//!
//! `WHIPPET_CRASH_SEED=<n>` replays a run; `WHIPPET_CRASH_CYCLES=<n>` changes the cycle count.

mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use whippet_protocol::batch::{self, BatchHeader, Frames, Verify};
use whippet_storage::io::UringStorage;
use whippet_storage::{ConsumerKey, Durability, Partition, PartitionConfig, ReadFrom, RecoveryReport};

/// Set (to the partition directory) only in the child process.
const CHILD_DIR_ENV: &str = "WHIPPET_CRASH_CHILD_DIR";
/// The cycle number, so the child's record numbers never repeat across cycles.
const CHILD_CYCLE_ENV: &str = "WHIPPET_CRASH_CYCLE";
const CHILD_TEST: &str = "crash_child";
const CYCLES: u32 = 32;
const PRODUCERS: usize = 4;
const CONSUMER: ConsumerKey = ConsumerKey::Consumer(1);
/// Record numbers of cycle `c` start at `c * RECORDS_PER_CYCLE`.
const RECORDS_PER_CYCLE: u64 = 1_000_000;

fn config() -> PartitionConfig {
    PartitionConfig { durability: Durability::Always, segment_size: 256 << 10, ..PartitionConfig::default() }
}

/// Message count and payload size of record `record_no`: mostly small records (coalesced into
/// one write per group), every 16th or so a ~90 KB one (written by its own write), so torn
/// tails can fall inside a coalesced write or between concurrent writes.
fn shape(record_no: u64) -> (u32, usize) {
    let h = record_no.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    if h.is_multiple_of(16) { (3, 30_000) } else { (1 + (h % 8) as u32, 64 + ((h >> 8) % 4000) as usize) }
}

/// One line on stdout, flushed at once: the parent may kill us right after.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// The child: appends until killed. Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let cycle: u64 = std::env::var(CHILD_CYCLE_ENV).expect("cycle").parse().expect("cycle number");
    common::run(async move {
        let (log, _) = Partition::open(UringStorage, Path::new(&dir), 0, config()).await.expect("child open");
        say(format_args!("opened"));
        // A safety net if the parent never kills us; it does so within a few hundred ms.
        let deadline = Instant::now() + Duration::from_secs(10);
        let next_record = Rc::new(Cell::new(cycle * RECORDS_PER_CYCLE));
        let acked_end = Rc::new(Cell::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..PRODUCERS {
            tasks.push(monoio::spawn(produce(log.clone(), next_record.clone(), acked_end.clone(), deadline)));
        }
        tasks.push(monoio::spawn(store_offsets(log.clone(), acked_end.clone(), deadline)));
        for task in tasks {
            task.await;
        }
    });
}

async fn produce(log: Partition, next_record: Rc<Cell<u64>>, acked_end: Rc<Cell<u64>>, deadline: Instant) {
    while Instant::now() < deadline {
        let record_no = next_record.get();
        next_record.set(record_no + 1);
        let (count, size) = shape(record_no);
        let appended = log.append(common::record(record_no, count, size)).await.expect("append");
        assert_eq!(appended.count, count);
        let end = appended.base_offset + u64::from(count);
        acked_end.set(acked_end.get().max(end));
        say(format_args!("ack {} {} {record_no}", appended.base_offset, appended.count));
    }
}

/// Stores the newest acknowledged offset every couple of milliseconds; the values only grow.
async fn store_offsets(log: Partition, acked_end: Rc<Cell<u64>>, deadline: Instant) {
    let mut stored = None;
    while Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(2)).await;
        let Some(offset) = acked_end.get().checked_sub(1) else {
            continue;
        };
        if stored.is_some_and(|s| s >= offset) {
            continue;
        }
        log.store_offset(CONSUMER, offset).await.expect("store offset");
        stored = Some(offset);
        say(format_args!("offset {offset}"));
    }
}

/// An append the child saw acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    base_offset: u64,
    count: u32,
    record_no: u64,
}

/// Parses the child's `ack` and `offset` lines (the harness prints other lines too).
fn parse(lines: &[String], acks: &mut Vec<Ack>, last_offset: &mut Option<u64>) -> usize {
    let mut acked = 0;
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ack", base, count, record_no] => {
                acks.push(Ack {
                    base_offset: base.parse().expect("ack base offset"),
                    count: count.parse().expect("ack count"),
                    record_no: record_no.parse().expect("ack record number"),
                });
                acked += 1;
            }
            ["offset", offset] => *last_offset = Some(offset.parse().expect("offset value")),
            _ => {}
        }
    }
    acked
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let seed = std::env::var("WHIPPET_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c0de);
    let cycles = std::env::var("WHIPPET_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(CYCLES);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let started = Instant::now();
    let mut acks: Vec<Ack> = Vec::new();
    let mut last_offset: Option<u64> = None;
    let mut reports: Vec<RecoveryReport> = Vec::new();
    let mut idle_cycles = 0;
    for cycle in 0..cycles {
        // Mostly kill while appending: 5-150 ms after the child has opened the partition (its
        // start-up slows down as segments pile up). One kill in eight comes 0-20 ms after the
        // spawn instead, during start-up or the open.
        let early = rng.u32(0..8) == 0;
        let delay = Duration::from_millis(if early { rng.u64(0..=20) } else { rng.u64(5..=150) });
        let mut child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_CYCLE_ENV, cycle.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let mut stderr = child.stderr.take().expect("child stderr");
        let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
        let out = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut lines = Vec::new();
        if !early {
            // Wait for "opened"; a child that dies first is reported by the status check.
            while let Ok(line) = line_rx.recv_timeout(Duration::from_secs(20)) {
                // The harness prints "test crash_child ... " on the same line first.
                let opened = line.ends_with("opened");
                lines.push(line);
                if opened {
                    break;
                }
            }
        }
        std::thread::sleep(delay);
        // Fails only if the child already exited, which the status check below reports.
        let _ = child.kill();
        let status = child.wait().expect("wait for child");
        out.join().expect("stdout reader");
        lines.extend(line_rx.try_iter());
        let err = err.join().expect("stderr reader");
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "cycle {cycle}: the child exited by itself ({status}) before the kill\n\
             stdout:\n{}\nstderr:\n{err}",
            lines.join("\n")
        );
        let acked = parse(&lines, &mut acks, &mut last_offset);
        if acked == 0 {
            idle_cycles += 1;
        }
        let report = common::run(recover_and_check(dir.path(), &acks, last_offset));
        println!(
            "cycle {cycle}: killed {delay:?} after {}, {acked} acks, recovered to offset {}, \
             truncated {} bytes {:?}",
            if early { "the spawn" } else { "the open" },
            report.next_offset,
            report.bytes_truncated,
            report.truncations
        );
        reports.push(report);
    }
    let torn = reports.iter().filter(|r| r.bytes_truncated > 0).count();
    let truncated: u64 = reports.iter().map(|r| r.bytes_truncated).sum();
    let rebuilt: u64 = reports.iter().map(|r| r.index_entries_rebuilt).sum();
    let unreadable: usize = reports.iter().map(|r| r.offsets_unreadable).sum();
    println!(
        "seed {seed:#x}: {cycles} kills ({idle_cycles} before any ack), {} acknowledged appends \
         checked, {torn} recoveries cut a torn tail ({truncated} bytes), {rebuilt} index entries \
         rebuilt, {unreadable} unreadable offset files, last stored offset {last_offset:?}, \
         {:.1?}",
        acks.len(),
        started.elapsed()
    );
    assert!(acks.len() > 100, "too few appends were acknowledged to test anything");
}

/// Reopens the partition after a kill and checks it against what the child acknowledged.
async fn recover_and_check(dir: &Path, acks: &[Ack], last_offset: Option<u64>) -> RecoveryReport {
    let (log, report) = Partition::open(UringStorage, dir, 0, config()).await.expect("recovery");
    let stats = log.stats();
    assert_eq!(report.next_offset, stats.next_offset);
    assert_eq!(stats.first_offset, 0, "nothing was ever deleted");

    // Walk every record from the first offset to the end: offsets dense, each record valid,
    // each message the one its id says it is.
    let mut found: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut cursor = stats.first_offset;
    while cursor < stats.next_offset {
        let polled = log.read(ReadFrom::Offset(cursor), u32::MAX).await.expect("read back");
        assert!(polled.count > 0, "nothing served at offset {cursor}");
        assert_eq!(polled.first_offset, cursor, "gap before offset {cursor}");
        let mut joined = Vec::with_capacity(polled.len_bytes());
        polled.chunks.iter().for_each(|c| joined.extend_from_slice(c));
        let mut at = 0;
        while at < joined.len() {
            let length = BatchHeader::read(&joined[at..]).expect("header").batch_length as usize;
            let record = &joined[at..at + length];
            let header = batch::validate(record, Verify::ALL)
                .unwrap_or_else(|e| panic!("record at offset {cursor} is invalid: {e}"));
            assert_eq!(header.base_offset, cursor, "offsets are not dense");
            assert_eq!(header.partition_id, 0);
            let (count, record_no) = check_messages(record, &header);
            found.insert(header.base_offset, (count, record_no));
            cursor += u64::from(count);
            at += length;
        }
        assert_eq!(cursor, polled.first_offset + u64::from(polled.count));
    }
    assert_eq!(cursor, stats.next_offset, "the records end past the end");

    for ack in acks {
        assert_eq!(
            found.get(&ack.base_offset),
            Some(&(ack.count, ack.record_no)),
            "acknowledged append {ack:?} is missing or different after recovery"
        );
    }
    let stored = log.stored_offset(CONSUMER);
    if let Some(last_offset) = last_offset {
        let stored = stored.expect("an acknowledged consumer offset was lost");
        assert!(stored >= last_offset, "stored offset {stored} is behind the acknowledged {last_offset}");
    }
    if let Some(stored) = stored {
        assert!(stored < stats.next_offset, "stored offset {stored} is past the log's end {}", stats.next_offset);
    }
    log.close().await.expect("close");
    report
}

/// Checks that a record is exactly the one `common::record` built for the record number its
/// ids carry; returns (count, record number).
fn check_messages(record: &[u8], header: &BatchHeader) -> (u32, u64) {
    let first = Frames::new(record).next().expect("a message");
    let record_no = ((first.id - 1) / 1000) as u64;
    let (count, size) = shape(record_no);
    assert_eq!(header.message_count, count, "record {record_no} at offset {} has the wrong count", header.base_offset);
    let mut seen = 0;
    for (i, frame) in Frames::new(record).enumerate() {
        let i = i as u32;
        assert_eq!(frame.offset_delta, i);
        assert_eq!(frame.id, u128::from(record_no * 1000 + u64::from(i) + 1));
        assert!(
            frame.payload(record) == common::payload(record_no, i, size).as_slice(),
            "payload of message {i} of record {record_no} differs"
        );
        seen += 1;
    }
    assert_eq!(seen, count);
    (count, record_no)
}
