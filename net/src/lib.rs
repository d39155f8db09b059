//! Sockets and frames: the acceptor thread, reading and writing Iggy frames on a connection,
//! and telling the two dialects apart. Knows nothing of files, partitions or metadata.

pub mod acceptor;
pub mod frame;
pub mod output;

pub use acceptor::{Acceptor, AcceptorStop};
pub use frame::{
    Dialect, FrameError, LegacyFrame, LegacyFrameError, VsrFrame, read_legacy_frame, read_vsr_frame, sniff,
};
pub use output::Output;
