//! An eventfd a shard's runtime awaits (an io_uring read) and any thread can signal: the
//! doorbell of a shard's inbox.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// The signalling side: `Send + Sync`, shared by every sender to one shard.
#[derive(Debug)]
pub struct Doorbell {
    fd: File,
}

/// The waiting side, owned by the shard: reads the eventfd through its io_uring.
pub struct Waiter {
    file: monoio::fs::File,
}

/// Creates a doorbell and the waiter for it. The waiter must be turned into its monoio file on
/// the shard's own runtime, so it is returned as a std file.
pub fn eventfd() -> io::Result<(Doorbell, File)> {
    // SAFETY: plain syscall; the returned descriptor is checked and owned below.
    let fd: RawFd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    let waiter = file.try_clone()?;
    Ok((Doorbell { fd: file }, waiter))
}

impl Doorbell {
    /// Wakes the shard. Cheap (one write syscall); extra rings merge into one wake-up.
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local into a descriptor we own. An eventfd write
        // only fails when the counter would overflow, which still leaves the shard woken.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

impl Waiter {
    /// Must be called on the shard's runtime.
    pub fn new(file: File) -> io::Result<Waiter> {
        Ok(Waiter { file: monoio::fs::File::from_std(file)? })
    }

    /// Waits until the doorbell rang at least once since the last wait; resets it.
    pub async fn wait(&self) -> io::Result<()> {
        let (result, _) = self.file.read_at(vec![0u8; 8], 0).await;
        result.map(|_| ())
    }
}
