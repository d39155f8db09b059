//! The sparse record index: one 32-byte entry per stored record, in memory for lookups and
//! appended to a `.index` file beside the segment. An entry is `[base_offset u64]
//! [base_timestamp u64][position u64][xxh3 of those 24 bytes u64]`: the checksum makes a torn
//! entry fail instead of pointing into the middle of a record.
//!
//! An entry reaches the file only after the record it describes was synced, so on recovery
//! every entry that decodes and lines up is trusted, and only the records after the last entry
//! need scanning.

use xxhash_rust::xxh3::xxh3_64;

/// Size of one encoded entry.
pub const ENTRY_SIZE: usize = 32;

/// Where one record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub base_offset: u64,
    pub base_timestamp: u64,
    /// Byte position of the record inside its segment.
    pub position: u64,
}

impl IndexEntry {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.base_offset.to_le_bytes());
        out.extend_from_slice(&self.base_timestamp.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
        let checksum = xxh3_64(&out[out.len() - 24..]);
        out.extend_from_slice(&checksum.to_le_bytes());
    }

    /// Decodes one entry; `None` when its checksum does not match (a torn or damaged entry).
    fn decode(raw: &[u8]) -> Option<IndexEntry> {
        let field = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        (xxh3_64(&raw[..24]) == field(24)).then(|| IndexEntry {
            base_offset: field(0),
            base_timestamp: field(8),
            position: field(16),
        })
    }
}

/// Decodes an index file, keeping the longest prefix of entries that are intact (checksum) and
/// line up: the first at position 0 with the segment's base offset, then strictly increasing
/// offsets and positions, non-decreasing timestamps, every position inside the log.
pub fn decode_trusted(raw: &[u8], segment_base: u64, log_len: u64) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(raw.len() / ENTRY_SIZE);
    for chunk in raw.chunks_exact(ENTRY_SIZE) {
        let Some(entry) = IndexEntry::decode(chunk) else { break };
        let lines_up = match entries.last() {
            None => entry.position == 0 && entry.base_offset == segment_base,
            Some(last) => {
                entry.base_offset > last.base_offset
                    && entry.position > last.position
                    && entry.base_timestamp >= last.base_timestamp
            }
        };
        if !lines_up || entry.position >= log_len {
            break;
        }
        entries.push(entry);
    }
    entries
}

/// Index of the entry whose record holds `offset`: the last entry starting at or before it.
pub fn entry_for_offset(entries: &[IndexEntry], offset: u64) -> Option<usize> {
    entries.partition_point(|e| e.base_offset <= offset).checked_sub(1)
}

/// Index of the first entry whose timestamp is at or after `timestamp`.
pub fn entry_for_timestamp(entries: &[IndexEntry], timestamp: u64) -> Option<usize> {
    let at = entries.partition_point(|e| e.base_timestamp < timestamp);
    (at < entries.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(base_offset: u64, base_timestamp: u64, position: u64) -> IndexEntry {
        IndexEntry { base_offset, base_timestamp, position }
    }

    fn encode(entries: &[IndexEntry]) -> Vec<u8> {
        let mut raw = Vec::new();
        entries.iter().for_each(|e| e.encode_into(&mut raw));
        raw
    }

    #[test]
    fn keeps_the_prefix_that_lines_up() {
        let good = [entry(10, 5, 0), entry(13, 5, 400), entry(20, 9, 900)];
        let mut raw = encode(&good);
        assert_eq!(decode_trusted(&raw, 10, 1000), good);
        raw.extend_from_slice(&[1, 2, 3]);
        assert_eq!(raw.len(), 3 * ENTRY_SIZE + 3);
        assert_eq!(decode_trusted(&raw, 10, 1000), good, "torn tail entry dropped");
        assert_eq!(decode_trusted(&raw, 10, 900), good[..2], "entry past the log dropped");
        assert!(decode_trusted(&raw, 11, 1000).is_empty(), "wrong base");
        let backwards = encode(&[entry(10, 5, 0), entry(9, 5, 400)]);
        assert_eq!(decode_trusted(&backwards, 10, 1000).len(), 1);
        let zeros = [0u8; 64];
        assert!(decode_trusted(&zeros, 10, 1000).is_empty());
        // A torn write that kept one byte of the position still lines up; its checksum fails.
        let mut torn = encode(&good[..2]);
        torn[ENTRY_SIZE + 17..ENTRY_SIZE + 24].fill(0);
        assert_eq!(decode_trusted(&torn, 10, 1000), good[..1]);
    }

    #[test]
    fn finds_records_by_offset_and_timestamp() {
        let entries = [entry(10, 5, 0), entry(13, 7, 400), entry(20, 9, 900)];
        assert_eq!(entry_for_offset(&entries, 9), None);
        assert_eq!(entry_for_offset(&entries, 10), Some(0));
        assert_eq!(entry_for_offset(&entries, 12), Some(0));
        assert_eq!(entry_for_offset(&entries, 13), Some(1));
        assert_eq!(entry_for_offset(&entries, 99), Some(2));
        assert_eq!(entry_for_timestamp(&entries, 0), Some(0));
        assert_eq!(entry_for_timestamp(&entries, 6), Some(1));
        assert_eq!(entry_for_timestamp(&entries, 9), Some(2));
        assert_eq!(entry_for_timestamp(&entries, 10), None);
    }
}
