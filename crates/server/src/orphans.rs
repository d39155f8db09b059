//! Data directories the metadata no longer knows.
//!
//! The leader makes a stream, topic or partition deletion durable in the metadata log first
//! and removes its directory second. A crash between the two leaves the files behind, and
//! since ids are reused, the next stream or topic given that id would adopt them and serve a
//! deleted topic's messages (found by the crash harness, `tests/crash`). So at start, before
//! the leader takes its first command, every `streams/{id}`, `topics/{id}` and
//! `partitions/{id}` directory the replayed metadata does not have is removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the metadata has: stream id → topic id → partitions count.
pub type Layout = BTreeMap<u32, BTreeMap<u32, u32>>;

/// The directories under `data_dir` that `layout` does not account for. Entries whose names
/// are not ids are left alone: the server did not make them.
pub fn orphaned_dirs(data_dir: &Path, layout: &Layout) -> Vec<PathBuf> {
    let mut orphans = Vec::new();
    for (stream_id, stream_dir) in numbered_dirs(&data_dir.join("streams")) {
        let Some(topics) = layout.get(&stream_id) else {
            orphans.push(stream_dir);
            continue;
        };
        for (topic_id, topic_dir) in numbered_dirs(&stream_dir.join("topics")) {
            let Some(&partitions) = topics.get(&topic_id) else {
                orphans.push(topic_dir);
                continue;
            };
            for (partition_id, partition_dir) in numbered_dirs(&topic_dir.join("partitions")) {
                if partition_id >= partitions {
                    orphans.push(partition_dir);
                }
            }
        }
    }
    orphans
}

/// Removes what [`orphaned_dirs`] finds; returns how many directories went.
pub fn remove_orphaned_dirs(data_dir: &Path, layout: &Layout) -> usize {
    let mut removed = 0;
    for dir in orphaned_dirs(data_dir, layout) {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::warn!(dir = %dir.display(), "removed data of a deletion interrupted by a crash");
                removed += 1;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::error!(dir = %dir.display(), %error, "could not remove orphaned data"),
        }
    }
    removed
}

/// `(id, path)` of every subdirectory of `dir` named by a number; none when `dir` is missing.
fn numbered_dirs(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(root: &Path, parts: &[&str]) {
        let dir = parts.iter().fold(root.to_path_buf(), |dir, part| dir.join(part));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000000000000000000.log"), b"x").unwrap();
    }

    #[test]
    fn finds_streams_topics_and_partitions_the_metadata_lost() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path();
        make(data, &["streams", "0", "topics", "0", "partitions", "0"]);
        make(data, &["streams", "0", "topics", "0", "partitions", "1"]);
        make(data, &["streams", "0", "topics", "0", "partitions", "2"]); // deleted partition
        make(data, &["streams", "0", "topics", "1", "partitions", "0"]); // deleted topic
        make(data, &["streams", "3", "topics", "0", "partitions", "0"]); // deleted stream
        make(data, &["streams", "0", "topics", "0", "partitions", "0", "offsets", "consumers"]);
        std::fs::create_dir_all(data.join("streams").join("lost+found")).unwrap();
        let layout: Layout = [(0, [(0, 2)].into_iter().collect())].into_iter().collect();

        let mut orphans = orphaned_dirs(data, &layout);
        orphans.sort();
        let expected =
            vec![data.join("streams/0/topics/0/partitions/2"), data.join("streams/0/topics/1"), data.join("streams/3")];
        assert_eq!(orphans, expected);
        assert_eq!(remove_orphaned_dirs(data, &layout), 3);
        assert!(orphaned_dirs(data, &layout).is_empty());
        assert!(data.join("streams/0/topics/0/partitions/1/00000000000000000000.log").exists());
        assert!(data.join("streams/0/topics/0/partitions/0/offsets/consumers").exists());
        assert!(data.join("streams/lost+found").exists(), "names that are not ids stay");
    }

    #[test]
    fn a_fresh_data_dir_has_no_orphans() {
        let root = tempfile::tempdir().unwrap();
        assert!(orphaned_dirs(root.path(), &Layout::new()).is_empty());
    }
}
