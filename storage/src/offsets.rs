//! Consumer offsets of one partition: one small file per consumer or group under
//! `offsets/consumers/{id}` and `offsets/groups/{id}`.
//!
//! A file holds two 24-byte slots `[sequence u64][offset u64][xxh3 of the first 16 bytes]`.
//! The slot holding the newest value known to be synced is never overwritten: every store goes
//! to the other slot until a sync makes it the durable one. A torn or lost write can therefore
//! only cost values written since the last sync; on load the valid slot with the higher
//! sequence wins.

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
    /// Slot of the newest value known to be on stable storage.
    durable_slot: Option<u64>,
    /// Slot of the latest write.
    last_slot: u64,
}

/// Where the next store of a key goes.
pub(crate) struct NextWrite<F> {
    /// The open file; `None` when the key has no file yet.
    pub file: Option<Rc<F>>,
    pub path: PathBuf,
    pub sequence: u64,
    /// Byte position of the slot to write.
    pub slot: u64,
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
                let best = raw
                    .chunks(SLOT_SIZE)
                    .enumerate()
                    .filter_map(|(slot, raw)| decode(raw).map(|(sequence, offset)| (sequence, offset, slot as u64)))
                    .max_by_key(|(sequence, ..)| *sequence);
                let Some((sequence, offset, slot)) = best else {
                    // Nothing readable is left; the consumer starts again from the first offset.
                    tracing::warn!(path = %path.display(), "removing unreadable consumer offset file");
                    storage.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                    report.unreadable += 1;
                    continue;
                };
                let key = if group { ConsumerKey::Group(id) } else { ConsumerKey::Consumer(id) };
                let file = Rc::new(file);
                let stored = Stored { offset, sequence, file, path, durable_slot: Some(slot), last_slot: slot };
                offsets.stored.insert(key, stored);
                report.loaded += 1;
            }
        }
        Ok((offsets, report))
    }

    pub fn get(&self, key: ConsumerKey) -> Option<u64> {
        self.stored.get(&key).map(|s| s.offset)
    }

    /// Where the next store of `key` goes: never over the slot of the last synced value.
    pub fn next_write(&self, key: ConsumerKey) -> NextWrite<F> {
        match self.stored.get(&key) {
            Some(stored) => {
                let slot = 1 - stored.durable_slot.unwrap_or(stored.last_slot);
                NextWrite {
                    file: Some(stored.file.clone()),
                    path: stored.path.clone(),
                    sequence: stored.sequence + 1,
                    slot: slot * SLOT_SIZE as u64,
                }
            }
            None => NextWrite { file: None, path: self.path_of(key), sequence: 1, slot: 0 },
        }
    }

    /// Records a completed write of `write`; `synced` when it is already on stable storage.
    pub fn insert(&mut self, key: ConsumerKey, offset: u64, write: NextWrite<F>, file: Rc<F>, synced: bool) {
        let slot = write.slot / SLOT_SIZE as u64;
        let durable_slot = if synced { Some(slot) } else { self.stored.get(&key).and_then(|s| s.durable_slot) };
        if !synced {
            self.dirty.push(key);
        }
        let stored = Stored { offset, sequence: write.sequence, file, path: write.path, durable_slot, last_slot: slot };
        self.stored.insert(key, stored);
    }

    /// Forgets `key`, returning the path of its file.
    pub fn remove(&mut self, key: ConsumerKey) -> Option<PathBuf> {
        self.stored.remove(&key).map(|s| s.path)
    }

    /// The files written since the last call, to be synced (with the slot each last wrote),
    /// and the directories holding them.
    #[allow(clippy::type_complexity)]
    pub fn take_dirty(&mut self) -> (Vec<(ConsumerKey, Rc<F>, PathBuf, u64)>, [PathBuf; 2]) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let files = dirty
            .iter()
            .filter_map(|k| self.stored.get(k).map(|s| (*k, s.file.clone(), s.path.clone(), s.last_slot)))
            .collect();
        (files, [self.consumers_dir.clone(), self.groups_dir.clone()])
    }

    /// Marks the value last written to `slot` as synced.
    pub fn mark_durable(&mut self, key: ConsumerKey, slot: u64) {
        if let Some(stored) = self.stored.get_mut(&key)
            && stored.last_slot == slot
        {
            stored.durable_slot = Some(slot);
        }
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
