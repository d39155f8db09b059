//! What the server's recovery did, read from its log: storage warns once per torn or corrupt
//! tail it cuts (`truncated segment ... truncated=BYTES ... reason=...`), once per gap that made
//! it drop segments, and the shard once per partition whose open was not clean
//! (`partition recovered`); the metadata leader reports its own log's tail in
//! `metadata log replayed`.

use std::collections::BTreeSet;

/// Distinct truncation reasons kept for the summary.
const REASONS_MAX: usize = 6;

/// Recovery events, summed over every run of the server.
#[derive(Debug, Default, Clone)]
pub struct Recoveries {
    pub partitions_recovered: u64,
    pub tails_cut: u64,
    pub bytes_cut: u64,
    pub segments_dropped: u64,
    pub metadata_tails_cut: u64,
    pub reasons: BTreeSet<String>,
}

impl Recoveries {
    pub fn absorb(&mut self, lines: &[String]) {
        for line in lines {
            if line.contains("partition recovered") {
                self.partitions_recovered += 1;
            } else if line.contains("truncated segment") {
                self.tails_cut += 1;
                self.bytes_cut += field(line, "truncated=").and_then(|v| v.parse().ok()).unwrap_or(0);
                if let Some((_, reason)) = line.split_once("reason=")
                    && self.reasons.len() < REASONS_MAX
                {
                    self.reasons.insert(without_digits(reason.trim()));
                }
            } else if line.contains("gap after segment") {
                self.segments_dropped += field(line, "dropped=").and_then(|v| v.parse().ok()).unwrap_or(1);
            } else if line.contains("metadata log replayed") && line.contains("truncated: Some") {
                self.metadata_tails_cut += 1;
            }
        }
    }
}

impl std::fmt::Display for Recoveries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} partition recoveries, {} torn tails cut ({} bytes), {} segments dropped, {} metadata tails cut",
            self.partitions_recovered, self.tails_cut, self.bytes_cut, self.segments_dropped, self.metadata_tails_cut
        )?;
        if !self.reasons.is_empty() {
            let reasons: Vec<&str> = self.reasons.iter().map(String::as_str).collect();
            write!(formatter, " [{}]", reasons.join("; "))?;
        }
        Ok(())
    }
}

/// The value of a `key=value` field: up to the next space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(key)?;
    Some(rest.split_whitespace().next().unwrap_or(""))
}

/// A reason with its numbers replaced by `N`, so that reasons differing only in positions
/// count once.
fn without_digits(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    for character in reason.chars() {
        if character.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cuts_drops_and_recoveries() {
        // As whippet-server logs them (the gap line made up after storage's format).
        let lines = [
            "2026-11-23T16:48:12.661459Z  INFO shard{id=0}: metadata log replayed version=3 report=OpenReport { \
             records: 3, last_version: 3, valid_bytes: 220, truncated: Some((16, ShortHeader)) }",
            "2026-11-23T16:48:12.661662Z  WARN truncated segment partition_id=0 segment=0 truncated=300 \
             reason=torn record at the tail",
            "2026-11-23T16:48:12.661718Z  WARN partition recovered shard=0 key=PartitionKey { stream: 0, topic: 0, \
             partition: 0 } report=RecoveryReport { segments: 1, segments_scanned: 1, records_scanned: 1, \
             bytes_truncated: 300, truncations: [(0, \"torn record at the tail\")], index_entries_rebuilt: 0, \
             segments_dropped: [], offsets_loaded: 0, offsets_unreadable: 0, next_offset: 2 }",
            "2026-11-23T16:48:12.661800Z  WARN gap after segment partition_id=3 segment=0 end=9 next_base=12 dropped=2",
            "2026-11-23T16:48:12.661891Z  INFO shard{id=0}: metadata log replayed version=3 report=OpenReport { \
             records: 3, last_version: 3, valid_bytes: 220, truncated: None }",
        ]
        .map(String::from);
        let mut recoveries = Recoveries::default();
        recoveries.absorb(&lines);
        assert_eq!(recoveries.partitions_recovered, 1);
        assert_eq!((recoveries.tails_cut, recoveries.bytes_cut), (1, 300));
        assert_eq!(recoveries.segments_dropped, 2);
        assert_eq!(recoveries.metadata_tails_cut, 1);
        assert_eq!(recoveries.reasons.iter().next().map(String::as_str), Some("torn record at the tail"));
    }
}
