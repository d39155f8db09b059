//! Consumer offsets of one partition: one small file per consumer or group under
//! `offsets/consumers/{id}` and `offsets/groups/{id}`.
//!
//! A file holds two 24-byte slots `[sequence u64][offset u64][xxh3 of the first 16 bytes]`.
//! Each store writes the slot the previous store did not, so a torn write can only damage the
//! value being written; on load the valid slot with the higher sequence wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Result, StorageError};
use crate::io::{LogFile, OpenMode, Storage};

/// Whose offset it is: a single consumer (by numeric id) or a consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsumerKey {
    Consumer(u32),
    Group(u32),
}

pub(crate) const SLOT_SIZE: usize = 24;

struct Stored<F> {
    offset: u64,
    sequence: u64,
    file: Rc<F>,
    path: PathBuf,
}

/// The offsets of one partition, in memory and on disk. Owned by the partition's shard.
pub(crate) struct ConsumerOffsets<F> {
    consumers_dir: PathBuf,
    groups_dir: PathBuf,
    stored: HashMap<ConsumerKey, Stored<F>>,
    /// Offsets written since the last sync (for `interval` and `never` durability).
    dirty: Vec<ConsumerKey>,
}

/// What loading the offsets found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetsLoaded {
    pub loaded: usize,
    pub unreadable: usize,
}

pub(crate) fn encode(sequence: u64, offset: u64) -> Vec<u8> {
    let mut slot = Vec::with_capacity(SLOT_SIZE);
    slot.extend_from_slice(&sequence.to_le_bytes());
    slot.extend_from_slice(&offset.to_le_bytes());
    let checksum = xxh3_64(&slot);
    slot.extend_from_slice(&checksum.to_le_bytes());
    slot
}

fn decode(raw: &[u8]) -> Option<(u64, u64)> {
    let field = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap_or_default());
    (raw.len() == SLOT_SIZE && xxh3_64(&raw[..16]) == field(16)).then(|| (field(0), field(8)))
}

impl<F: LogFile> ConsumerOffsets<F> {
    pub async fn load<S: Storage<File = F>>(storage: &S, partition_dir: &Path) -> Result<(Self, OffsetsLoaded)> {
        let consumers_dir = partition_dir.join("offsets").join("consumers");
        let groups_dir = partition_dir.join("offsets").join("groups");
        let mut offsets = ConsumerOffsets { consumers_dir, groups_dir, stored: HashMap::new(), dirty: Vec::new() };
        let mut report = OffsetsLoaded::default();
        for group in [false, true] {
            let dir = if group { offsets.groups_dir.clone() } else { offsets.consumers_dir.clone() };
            storage.create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            let names = storage.list_files(&dir).map_err(|e| StorageError::io(&dir, e))?;
            for name in names {
                let Ok(id) = name.parse::<u32>() else {
                    continue;
                };
                let path = dir.join(&name);
                let file = storage.open(&path, OpenMode::EXISTING).await.map_err(|e| StorageError::io(&path, e))?;
                let len = file.file_len().await.map_err(|e| StorageError::io(&path, e))?;
                let raw = file
                    .read_exact_at((len as usize).min(2 * SLOT_SIZE), 0)
                    .await
                    .map_err(|e| StorageError::io(&path, e))?;
                let best = raw.chunks(SLOT_SIZE).filter_map(decode).max_by_key(|(sequence, _)| *sequence);
                let Some((sequence, offset)) = best else {
                    report.unreadable += 1;
                    continue;
                };
                let key = if group { ConsumerKey::Group(id) } else { ConsumerKey::Consumer(id) };
                offsets.stored.insert(key, Stored { offset, sequence, file: Rc::new(file), path });
                report.loaded += 1;
            }
        }
        Ok((offsets, report))
    }

    pub fn get(&self, key: ConsumerKey) -> Option<u64> {
        self.stored.get(&key).map(|s| s.offset)
    }

    /// The open file, its path and the last sequence written for `key`.
    pub fn handle(&self, key: ConsumerKey) -> Option<(Rc<F>, PathBuf, u64)> {
        self.stored.get(&key).map(|s| (s.file.clone(), s.path.clone(), s.sequence))
    }

    /// Records a completed write; `dirty` when it still needs a sync.
    pub fn insert(&mut self, key: ConsumerKey, offset: u64, sequence: u64, file: Rc<F>, path: PathBuf, dirty: bool) {
        if dirty {
            self.dirty.push(key);
        }
        self.stored.insert(key, Stored { offset, sequence, file, path });
    }

    /// Forgets `key`, returning the path of its file.
    pub fn remove(&mut self, key: ConsumerKey) -> Option<PathBuf> {
        self.stored.remove(&key).map(|s| s.path)
    }

    /// The files written since the last call, to be synced, and the directories holding them.
    pub fn take_dirty(&mut self) -> (Vec<(Rc<F>, PathBuf)>, [PathBuf; 2]) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let files = dirty.iter().filter_map(|k| self.stored.get(k)).map(|s| (s.file.clone(), s.path.clone())).collect();
        (files, [self.consumers_dir.clone(), self.groups_dir.clone()])
    }

    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    pub fn path_of(&self, key: ConsumerKey) -> PathBuf {
        match key {
            ConsumerKey::Consumer(id) => self.consumers_dir.join(id.to_string()),
            ConsumerKey::Group(id) => self.groups_dir.join(id.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_slot_is_refused() {
        let mut slot = encode(3, 99);
        assert_eq!(decode(&slot), Some((3, 99)));
        slot[9] ^= 1;
        assert_eq!(decode(&slot), None);
        assert_eq!(decode(&[0u8; SLOT_SIZE]), None);
    }
}
