//! Aligned buffers for O_DIRECT writes. The unsafe allocation lives here, behind a safe type.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

use monoio::buf::IoBuf;

/// Alignment that satisfies O_DIRECT on every block device we target (4 KiB sectors).
pub const DIRECT_ALIGN: usize = 4096;

/// A zero-initialised heap buffer aligned to [`DIRECT_ALIGN`], with a fill length.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

impl AlignedBuf {
    /// A buffer able to hold at least `capacity` bytes, rounded up to the alignment.
    pub fn with_capacity(capacity: usize) -> AlignedBuf {
        let capacity = round_up(capacity.max(DIRECT_ALIGN));
        let layout = Self::layout(capacity);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else { std::alloc::handle_alloc_error(layout) };
        AlignedBuf { ptr, capacity, len: 0 }
    }

    fn layout(capacity: usize) -> Layout {
        match Layout::from_size_align(capacity, DIRECT_ALIGN) {
            Ok(layout) => layout,
            Err(_) => panic!("aligned buffer of {capacity} bytes exceeds the address space"),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the buffer, keeping its memory.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes`; the caller sizes the buffer first.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        assert!(self.len + bytes.len() <= self.capacity, "aligned buffer overflow");
        let len = self.len;
        self.as_full_mut()[len..len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Zero-fills up to the next multiple of the alignment, as O_DIRECT lengths must be.
    pub fn pad_to_alignment(&mut self) {
        let padded = round_up(self.len);
        let len = self.len;
        self.as_full_mut()[len..padded].fill(0);
        self.len = padded;
    }

    fn as_full_mut(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is `capacity` bytes, zero-initialised, owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }
}

/// Rounds `value` up to a multiple of [`DIRECT_ALIGN`].
pub fn round_up(value: usize) -> usize {
    value.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN
}

/// Rounds `value` down to a multiple of [`DIRECT_ALIGN`].
pub fn round_down(value: u64) -> u64 {
    value - value % DIRECT_ALIGN as u64
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised and owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_capacity` with this exact layout.
        unsafe { dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) }
    }
}

// SAFETY: the pointer stays valid and the first `len` bytes initialised until drop; the buffer
// is moved into the io_uring operation and handed back, never aliased while in flight.
unsafe impl IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_with_zeros_to_the_alignment() {
        let mut buf = AlignedBuf::with_capacity(10_000);
        assert_eq!(buf.capacity(), 12_288);
        assert_eq!(buf.read_ptr() as usize % DIRECT_ALIGN, 0);
        buf.extend_from_slice(&[7; 5000]);
        buf.pad_to_alignment();
        assert_eq!(buf.len(), 8192);
        assert!(buf.as_ref()[5000..].iter().all(|&b| b == 0));
        assert_eq!((round_up(1), round_up(4096), round_down(4097)), (4096, 4096, 4096));
    }
}
