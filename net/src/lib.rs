//! Sockets and frames: the acceptor thread, reading and writing Iggy frames on a connection,
//! telling the two dialects apart, and TLS on the listener. Knows nothing of files, partitions or
//! metadata.

pub mod acceptor;
pub mod frame;
pub mod output;
pub mod tls;

pub use acceptor::{Acceptor, AcceptorStop};
pub use frame::{
    BodyBudget, Dialect, EAGER_BODY, FrameError, LegacyFrame, LegacyFrameError, VsrFrame, read_legacy_frame,
    read_vsr_frame, sniff,
};
pub use output::Output;
