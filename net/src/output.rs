//! Writing replies. Small pieces are copied into one buffer; large ones (stored records served
//! by a poll) are written from their own `Bytes` without a copy.

use std::io;

use bytes::{Bytes, BytesMut};
use monoio::io::AsyncWriteRentExt;

/// Pieces at least this large are written directly instead of being copied.
const DIRECT_WRITE_AT: usize = 16 * 1024;

/// A reply being assembled and written to a connection.
pub struct Output {
    buffer: BytesMut,
    pieces: Vec<Piece>,
}

enum Piece {
    Copied(usize),
    Direct(Bytes),
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    pub fn new() -> Output {
        Output { buffer: BytesMut::with_capacity(4096), pieces: Vec::new() }
    }

    /// Appends bytes that are copied.
    pub fn put(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Appends stored bytes; large ones are written without a copy.
    pub fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < DIRECT_WRITE_AT {
            self.buffer.extend_from_slice(&bytes);
            return;
        }
        self.pieces.push(Piece::Copied(self.buffer.len()));
        self.pieces.push(Piece::Direct(bytes));
    }

    /// Total bytes queued.
    pub fn len(&self) -> usize {
        self.buffer.len()
            + self.pieces.iter().map(|p| if let Piece::Direct(b) = p { b.len() } else { 0 }).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything queued, in order, and empties the output.
    pub async fn flush<S: AsyncWriteRentExt>(&mut self, stream: &mut S) -> io::Result<()> {
        let buffer = std::mem::take(&mut self.buffer).freeze();
        let mut written = 0;
        for piece in std::mem::take(&mut self.pieces) {
            match piece {
                Piece::Copied(upto) => {
                    if upto > written {
                        write_all(stream, buffer.slice(written..upto)).await?;
                        written = upto;
                    }
                }
                Piece::Direct(bytes) => write_all(stream, bytes).await?,
            }
        }
        if buffer.len() > written {
            write_all(stream, buffer.slice(written..)).await?;
        }
        // Reuse the allocation when nothing else holds it.
        if let Ok(mut reused) = buffer.try_into_mut() {
            reused.clear();
            self.buffer = reused;
        }
        Ok(())
    }
}

async fn write_all<S: AsyncWriteRentExt>(stream: &mut S, bytes: Bytes) -> io::Result<()> {
    let (result, _) = stream.write_all(bytes).await;
    result.map(|_| ())
}
