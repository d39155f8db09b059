//! An in-memory disk for crash-consistency tests (the redb approach): every file has the
//! contents a reader sees now (the page cache) and the contents that survive a power cut (what
//! was last synced). [`SimStorage::crash`] builds the disk as it would look after a power cut:
//! each unsynced write is kept, torn or lost at random, and files whose directory entry was
//! never synced vanish. Writes can be made to fail after a countdown, as a dying device (every
//! later call fails too) or as a full disk (until space returns); file syncs can be made to
//! fail too ([`SimStorage::fail_syncs`]), with ENOSPC or EIO, keeping or dropping the unsynced
//! writes as the kernel's page cache may.
//!
//! Simplification: removing a file is durable at once.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::io::{LogFile, OpenMode, Storage, WriteBuf};

/// How the injected write failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The failing write is torn (a random prefix lands) and every later call fails with EIO.
    Crash,
    /// Writes fail with ENOSPC, landing nothing, until [`SimStorage::free_space`].
    NoSpace,
}

/// How an injected `fdatasync` failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFailure {
    /// ENOSPC (thin provisioning, NFS, a delayed allocation): the unsynced writes stay readable
    /// and unsynced.
    NoSpace,
    /// ENOSPC, and the file's unsynced writes are dropped: reads see what was last synced (ext4
    /// invalidates the pages of a delayed allocation it cannot place).
    NoSpaceDropping,
    /// EIO: the device failed; the unsynced writes stay readable and unsynced.
    Io,
}

#[derive(Debug)]
enum Pending {
    Write { position: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Pending>,
    entry_durable: bool,
}

#[derive(Debug)]
struct Disk {
    files: BTreeMap<PathBuf, Rc<RefCell<FileData>>>,
    countdown: Option<(u64, Failure)>,
    /// File syncs still to fail, and how.
    sync_failures: Option<(u32, SyncFailure)>,
    dead: bool,
    full: bool,
    rng: fastrand::Rng,
    writes: u64,
    syncs: u64,
}

/// The simulated file system. Clones share one disk.
#[derive(Debug, Clone)]
pub struct SimStorage {
    disk: Rc<RefCell<Disk>>,
}

/// A file on the simulated disk. Like a unix descriptor it keeps working after removal.
#[derive(Debug)]
pub struct SimFile {
    disk: Rc<RefCell<Disk>>,
    data: Rc<RefCell<FileData>>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl SimStorage {
    /// An empty disk whose random choices (tearing, loss) follow `seed`.
    pub fn new(seed: u64) -> SimStorage {
        SimStorage {
            disk: Rc::new(RefCell::new(Disk {
                files: BTreeMap::new(),
                countdown: None,
                sync_failures: None,
                dead: false,
                full: false,
                rng: fastrand::Rng::with_seed(seed),
                writes: 0,
                syncs: 0,
            })),
        }
    }

    /// The `writes`-th write from now fails as `failure` says.
    pub fn fail_after_writes(&self, writes: u64, failure: Failure) {
        self.disk.borrow_mut().countdown = Some((writes, failure));
    }

    /// The next `count` file syncs (`fdatasync`, not directory syncs) fail as `failure` says.
    pub fn fail_syncs(&self, count: u32, failure: SyncFailure) {
        self.disk.borrow_mut().sync_failures = (count > 0).then_some((count, failure));
    }

    /// File syncs still to fail.
    pub fn sync_failures_left(&self) -> u32 {
        self.disk.borrow().sync_failures.map_or(0, |(count, _)| count)
    }

    /// Ends a [`Failure::NoSpace`] episode.
    pub fn free_space(&self) {
        let mut disk = self.disk.borrow_mut();
        disk.full = false;
        disk.countdown = None;
    }

    /// Writes and syncs issued so far.
    pub fn counts(&self) -> (u64, u64) {
        let disk = self.disk.borrow();
        (disk.writes, disk.syncs)
    }

    /// The disk after a power cut now: synced data survives, unsynced writes are kept, torn or
    /// lost at random, unsynced new files vanish. The returned disk is healthy.
    pub fn crash(&self) -> SimStorage {
        let mut disk = self.disk.borrow_mut();
        let mut rng = disk.rng.fork();
        let mut files = BTreeMap::new();
        for (path, data) in &disk.files {
            let data = data.borrow();
            if !data.entry_durable {
                continue;
            }
            let mut contents = data.durable.clone();
            for pending in &data.unsynced {
                match pending {
                    Pending::SetLen(len) if rng.bool() => contents.resize(*len as usize, 0),
                    Pending::SetLen(_) => {}
                    Pending::Write { position, data } => {
                        let kept = match rng.u8(0..3) {
                            0 => data.len(),
                            1 => 0,
                            _ => rng.usize(0..=data.len()),
                        };
                        write_into(&mut contents, *position, &data[..kept]);
                    }
                }
            }
            let file =
                FileData { current: contents.clone(), durable: contents, unsynced: Vec::new(), entry_durable: true };
            files.insert(path.clone(), Rc::new(RefCell::new(file)));
        }
        SimStorage {
            disk: Rc::new(RefCell::new(Disk {
                files,
                countdown: None,
                sync_failures: None,
                dead: false,
                full: false,
                rng,
                writes: 0,
                syncs: 0,
            })),
        }
    }

    /// Flips bits of one byte of a file, durably (bit rot, or a test's deliberate damage).
    pub fn corrupt(&self, path: &Path, position: u64, mask: u8) {
        let disk = self.disk.borrow();
        if let Some(data) = disk.files.get(path) {
            let mut data = data.borrow_mut();
            let at = position as usize;
            if at < data.current.len() {
                data.current[at] ^= mask;
            }
            if at < data.durable.len() {
                data.durable[at] ^= mask;
            }
        }
    }

    /// Current length of a file, if it exists.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        self.disk.borrow().files.get(path).map(|d| d.borrow().current.len() as u64)
    }

    /// Paths of every file on the disk.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.disk.borrow().files.keys().cloned().collect()
    }

    fn check_alive(&self) -> io::Result<()> {
        if self.disk.borrow().dead { Err(eio()) } else { Ok(()) }
    }
}

fn write_into(contents: &mut Vec<u8>, position: u64, data: &[u8]) {
    let start = position as usize;
    if contents.len() < start + data.len() {
        contents.resize(start + data.len(), 0);
    }
    contents[start..start + data.len()].copy_from_slice(data);
}

impl Storage for SimStorage {
    type File = SimFile;

    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<SimFile> {
        self.check_alive()?;
        let mut disk = self.disk.borrow_mut();
        let data = match disk.files.get(path) {
            Some(data) => data.clone(),
            None if mode.create => {
                let data = Rc::new(RefCell::new(FileData::default()));
                disk.files.insert(path.to_path_buf(), data.clone());
                data
            }
            None => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        Ok(SimFile { disk: self.disk.clone(), data })
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        self.check_alive()
    }

    fn list_files(&self, path: &Path) -> io::Result<Vec<String>> {
        self.check_alive()?;
        let disk = self.disk.borrow();
        Ok(disk
            .files
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        match self.disk.borrow_mut().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.check_alive()?;
        let mut disk = self.disk.borrow_mut();
        disk.syncs += 1;
        for (file, data) in &disk.files {
            if file.parent() == Some(path) {
                data.borrow_mut().entry_durable = true;
            }
        }
        Ok(())
    }
}

impl LogFile for SimFile {
    async fn write_all_at<B: WriteBuf>(&self, buf: B, position: u64) -> (io::Result<()>, B) {
        let mut disk = self.disk.borrow_mut();
        if disk.dead {
            return (Err(eio()), buf);
        }
        if disk.full {
            return (Err(io::Error::from_raw_os_error(libc::ENOSPC)), buf);
        }
        disk.writes += 1;
        let bytes = buf.as_ref();
        let mut landed = bytes.len();
        let mut failure = None;
        if let Some((countdown, kind)) = disk.countdown.as_mut() {
            if *countdown == 0 {
                failure = Some(*kind);
            } else {
                *countdown -= 1;
            }
        }
        match failure {
            Some(Failure::Crash) => {
                disk.dead = true;
                landed = disk.rng.usize(0..=bytes.len());
            }
            Some(Failure::NoSpace) => {
                disk.full = true;
                return (Err(io::Error::from_raw_os_error(libc::ENOSPC)), buf);
            }
            None => {}
        }
        let mut data = self.data.borrow_mut();
        write_into(&mut data.current, position, &bytes[..landed]);
        data.unsynced.push(Pending::Write { position, data: bytes[..landed].to_vec() });
        drop(data);
        let result = if failure.is_some() { Err(eio()) } else { Ok(()) };
        (result, buf)
    }

    async fn read_exact_at(&self, len: usize, position: u64) -> io::Result<Vec<u8>> {
        if self.disk.borrow().dead {
            return Err(eio());
        }
        let data = self.data.borrow();
        let start = position as usize;
        match data.current.get(start..start + len) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        }
    }

    async fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.borrow_mut();
        if disk.dead {
            return Err(eio());
        }
        disk.syncs += 1;
        let mut data = self.data.borrow_mut();
        if let Some((count, failure)) = disk.sync_failures {
            disk.sync_failures = (count > 1).then_some((count - 1, failure));
            return Err(match failure {
                SyncFailure::NoSpace => io::Error::from_raw_os_error(libc::ENOSPC),
                SyncFailure::NoSpaceDropping => {
                    data.current = data.durable.clone();
                    data.unsynced.clear();
                    io::Error::from_raw_os_error(libc::ENOSPC)
                }
                SyncFailure::Io => eio(),
            });
        }
        data.durable = data.current.clone();
        data.unsynced.clear();
        Ok(())
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        if self.disk.borrow().dead {
            return Err(eio());
        }
        let mut data = self.data.borrow_mut();
        data.current.resize(len as usize, 0);
        data.unsynced.push(Pending::SetLen(len));
        Ok(())
    }

    async fn file_len(&self) -> io::Result<u64> {
        if self.disk.borrow().dead {
            return Err(eio());
        }
        Ok(self.data.borrow().current.len() as u64)
    }
}
