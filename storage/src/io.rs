//! The file layer the log is written through. [`UringStorage`] is the real one (monoio on
//! io_uring); [`crate::sim::SimStorage`] is an in-memory disk that loses unsynced writes and
//! fails on command, for crash-consistency tests without a VM.
//!
//! Directory operations (create, list, remove) are rare and use blocking std calls; every
//! read, write and sync on the data path goes through io_uring.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::rc::Rc;

use monoio::buf::{IoBuf, IoBufMut};

/// A buffer the file layer can write: owned (io_uring needs it to outlive the call) and
/// readable as a slice. `Vec<u8>`, `Bytes`, `BytesMut` and [`crate::direct::AlignedBuf`] are.
pub trait WriteBuf: IoBuf + AsRef<[u8]> {}
impl<T: IoBuf + AsRef<[u8]>> WriteBuf for T {}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenMode {
    /// Create the file when it does not exist.
    pub create: bool,
    /// Bypass the page cache (O_DIRECT): offsets, lengths and buffers must be aligned.
    pub direct: bool,
}

impl OpenMode {
    pub const EXISTING: OpenMode = OpenMode { create: false, direct: false };
    pub const CREATE: OpenMode = OpenMode { create: true, direct: false };
}

/// A file system for one shard. Futures are not `Send`: a storage lives on one runtime.
#[allow(async_fn_in_trait)] // single-threaded runtime: no Send bound is wanted on these futures.
pub trait Storage: Clone + 'static {
    type File: LogFile;
    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Self::File>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the plain files in `path` (not directories).
    fn list_files(&self, path: &Path) -> io::Result<Vec<String>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory entries of `path` durable (new and removed files).
    async fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// An open file. All operations are positional, so one handle serves concurrent futures.
#[allow(async_fn_in_trait)]
pub trait LogFile: 'static {
    /// Writes all of `buf` at `position` and hands the buffer back for reuse.
    async fn write_all_at<B: WriteBuf>(&self, buf: B, position: u64) -> (io::Result<()>, B);
    /// Reads exactly `len` bytes at `position`.
    async fn read_exact_at(&self, len: usize, position: u64) -> io::Result<Vec<u8>>;
    async fn sync_data(&self) -> io::Result<()>;
    async fn set_len(&self, len: u64) -> io::Result<()>;
    async fn file_len(&self) -> io::Result<u64>;
}

/// The real file system: data-path I/O on the current monoio runtime's io_uring.
#[derive(Debug, Clone, Default)]
pub struct UringStorage;

/// A file opened on io_uring.
#[derive(Debug)]
pub struct UringFile {
    file: Rc<monoio::fs::File>,
}

impl Storage for UringStorage {
    type File = UringFile;

    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<UringFile> {
        // monoio's OpenOptions has no custom flags, so O_DIRECT files are opened by std.
        if mode.direct {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(mode.create)
                .custom_flags(libc::O_DIRECT)
                .open(path)?;
            return Ok(UringFile { file: Rc::new(monoio::fs::File::from_std(file)?) });
        }
        let file = monoio::fs::OpenOptions::new().read(true).write(true).create(mode.create).open(path).await?;
        Ok(UringFile { file: Rc::new(file) })
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_files(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let dir = monoio::fs::File::open(path).await?;
        dir.sync_all().await
    }
}

impl LogFile for UringFile {
    async fn write_all_at<B: WriteBuf>(&self, buf: B, position: u64) -> (io::Result<()>, B) {
        self.file.write_all_at(buf, position).await
    }

    async fn read_exact_at(&self, len: usize, position: u64) -> io::Result<Vec<u8>> {
        let buf = Vec::with_capacity(len);
        let (result, slice) = self.file.read_exact_at(buf.slice_mut(0..len), position).await;
        result.map(|()| slice.into_inner())
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data().await
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        let len = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the descriptor is owned by `self.file` and stays open for the call.
        let rc = unsafe { libc::ftruncate(self.file.as_raw_fd(), len) };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    async fn file_len(&self) -> io::Result<u64> {
        Ok(self.file.metadata().await?.len())
    }
}
