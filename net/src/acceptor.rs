//! The acceptor: one thread owns the listener (socket2: reuseaddr, nodelay, backlog) and hands
//! each accepted connection to a shard through a callback (round-robin is the caller's choice).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};

/// A bound listener, not yet accepting.
pub struct Acceptor {
    listener: TcpListener,
}

/// Stops the accept loop.
#[derive(Clone)]
pub struct AcceptorStop(Arc<AtomicBool>);

impl AcceptorStop {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Acceptor {
    pub fn bind(address: SocketAddr, backlog: u32) -> io::Result<Acceptor> {
        let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Ok(Acceptor { listener: socket.into() })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts on a thread named `whippet-acceptor` until stopped, giving every connection
    /// (with TCP_NODELAY set) to `hand_off`. The loop wakes every 100 ms to check for a stop.
    pub fn spawn(
        self,
        mut hand_off: impl FnMut(TcpStream, SocketAddr) + Send + 'static,
    ) -> io::Result<(JoinHandle<()>, AcceptorStop)> {
        let stop = AcceptorStop(Arc::new(AtomicBool::new(false)));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("whippet-acceptor".to_string()).spawn(move || {
            while !stopped.0.load(Ordering::Acquire) {
                if !readable(&self.listener, 100) {
                    continue;
                }
                match self.listener.accept() {
                    Ok((stream, peer)) => {
                        if let Err(error) = stream.set_nodelay(true) {
                            tracing::warn!(%peer, %error, "could not set TCP_NODELAY");
                        }
                        hand_off(stream, peer);
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::error!(%error, "accept failed");
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            }
        })?;
        Ok((thread, stop))
    }
}

/// Waits up to `timeout_ms` for a pending connection.
fn readable(listener: &TcpListener, timeout_ms: i32) -> bool {
    let mut poll = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on the stack, for the duration of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
    ready > 0 && poll.revents & libc::POLLIN != 0
}
