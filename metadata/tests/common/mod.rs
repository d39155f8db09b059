//! Helpers shared by the metadata integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use whippet_metadata::{Command, Event, Metadata, Ref};

/// Runs a future that never waits: everything on `SimStorage` completes at its first poll.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a simulated-storage future waited"),
    }
}

/// Runs `future` on a monoio runtime with the io_uring driver, as a shard does.
pub fn run_uring<F: Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("io_uring runtime")
        .block_on(future)
}

/// Decides and applies `command` on `metadata`, returning the event.
pub fn commit(metadata: &mut Metadata, command: Command) -> Event {
    let event = metadata.decide(&command, 1_000 + metadata.version()).expect("command accepted");
    metadata.apply(metadata.version() + 1, &event);
    event
}

pub fn name(name: &str) -> Ref {
    Ref::Name(name.to_owned())
}

pub fn create_stream(name: &str) -> Command {
    Command::CreateStream { name: name.to_owned() }
}

pub fn create_topic(stream: Ref, name: &str, partitions_count: u32) -> Command {
    Command::CreateTopic {
        stream,
        name: name.to_owned(),
        partitions_count,
        message_expiry: 0,
        max_topic_size: 0,
        compression: 1,
        replication_factor: 1,
        options: vec![("durability".to_owned(), "replicated".to_owned())],
    }
}

pub fn create_user(username: &str) -> Command {
    Command::CreateUser {
        username: username.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${username}"),
        status: 1,
        permissions: None,
    }
}

/// The canonical bytes of a state: two states are equal iff these are.
pub fn canonical(metadata: &Metadata) -> Vec<u8> {
    postcard::to_stdvec(metadata).expect("metadata serializes")
}
