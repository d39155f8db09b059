//! The body budget over real loopback sockets: a shard's readers of large bodies share it, so a
//! client that declares a large frame and stalls holds back the next large reader, not the
//! shard's memory, and its grant returns when its connection ends.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};
use whippet_net::{BodyBudget, EAGER_BODY, FrameError, read_vsr_frame};
use whippet_protocol::vsr::HEADER_SIZE;

const BODY: usize = 1 << 20;
const MAX_FRAME: u32 = 4 << 20;

/// A VSR header declaring `body` bytes after it (only the size field matters to the reader).
fn header(body: usize) -> Vec<u8> {
    let mut header = vec![0u8; HEADER_SIZE];
    header[48..52].copy_from_slice(&((HEADER_SIZE + body) as u32).to_le_bytes());
    header
}

async fn write(stream: &mut TcpStream, bytes: Vec<u8>) {
    let (result, _) = stream.write_all(bytes).await;
    result.expect("write");
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().expect("runtime").block_on(future)
}

#[test]
fn a_stalled_large_body_holds_back_the_next_large_reader_until_its_connection_ends() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        // Room for one 1 MiB body at a time (rounded up to the largest frame, as the server does).
        let budget = Rc::new(BodyBudget::new(BODY as u64, BODY as u32 + HEADER_SIZE as u32));
        let full = budget.available();

        let mut staller = TcpStream::connect(address).await.expect("connect");
        let (mut stalled, _) = listener.accept().await.expect("accept");
        let mut honest = TcpStream::connect(address).await.expect("connect");
        let (mut served, _) = listener.accept().await.expect("accept");

        // The staller declares 1 MiB and sends 1 KiB of it.
        let mut partial = header(BODY);
        partial.extend_from_slice(&[7u8; 1024]);
        write(&mut staller, partial).await;
        let stalled_budget = budget.clone();
        let stalled_read = monoio::spawn(async move {
            read_vsr_frame(&mut stalled, None, MAX_FRAME, &stalled_budget).await.map(|frame| frame.body.len())
        });
        monoio::time::sleep(Duration::from_millis(50)).await;
        assert!(budget.available() < full, "the stalled reader holds its grant");

        // The honest client sends a whole 1 MiB frame; its reader must wait for the grant.
        let mut whole = header(BODY);
        whole.extend_from_slice(&vec![9u8; BODY]);
        let done = Rc::new(Cell::new(false));
        let finished = done.clone();
        let honest_budget = budget.clone();
        let honest_read = monoio::spawn(async move {
            let frame = read_vsr_frame(&mut served, None, MAX_FRAME, &honest_budget).await;
            finished.set(true);
            frame.map(|frame| frame.body)
        });
        write(&mut honest, whole).await;
        monoio::time::sleep(Duration::from_millis(100)).await;
        assert!(!done.get(), "the second large body waits while the first holds the budget");

        // The staller goes away: its read fails, its grant returns, the honest read completes.
        drop(staller);
        assert!(matches!(stalled_read.await, Err(FrameError::Closed)));
        let body = monoio::time::timeout(Duration::from_secs(5), honest_read)
            .await
            .expect("the honest read completes once the grant returns")
            .expect("a whole frame");
        assert_eq!(body.len(), BODY);
        assert!(body.iter().all(|&b| b == 9));
        assert_eq!(budget.available(), full, "every grant returned");
    });
}

#[test]
fn small_bodies_never_wait_for_the_budget() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let budget = Rc::new(BodyBudget::new(BODY as u64, BODY as u32 + HEADER_SIZE as u32));

        // A stalled large reader takes the whole budget.
        let mut staller = TcpStream::connect(address).await.expect("connect");
        let (mut stalled, _) = listener.accept().await.expect("accept");
        write(&mut staller, header(BODY)).await;
        let stalled_budget = budget.clone();
        let _stalled_read =
            monoio::spawn(async move { read_vsr_frame(&mut stalled, None, MAX_FRAME, &stalled_budget).await.is_ok() });
        monoio::time::sleep(Duration::from_millis(50)).await;

        let mut small = TcpStream::connect(address).await.expect("connect");
        let (mut served, _) = listener.accept().await.expect("accept");
        let mut frame = header(EAGER_BODY);
        frame.extend_from_slice(&vec![1u8; EAGER_BODY]);
        write(&mut small, frame).await;
        let read = monoio::time::timeout(Duration::from_secs(5), read_vsr_frame(&mut served, None, MAX_FRAME, &budget))
            .await
            .expect("a body up to EAGER_BODY is read without the budget")
            .expect("a whole frame");
        assert_eq!(read.body.len(), EAGER_BODY);
        drop(staller);
    });
}
