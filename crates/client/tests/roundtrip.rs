//! The client against the real server, in both dialects: every command group once, with the
//! replies checked field by field where the server's answer is known.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use whippet_client::protocol::permissions::Permissions;
use whippet_client::protocol::status::ErrorCode;
use whippet_client::protocol::types::{Consumer, ConsumerKind, Identifier, Partitioning, PollingStrategy};
use whippet_client::{Client, ClientError, Credentials, Dialect, Message, PollSpec, TopicSpec, UserSpec, now_micros};
use whippet_testkit::{ROOT_PASSWORD, ROOT_USERNAME, TestServer};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `body` on a monoio runtime of its own thread, failing the test if it takes longer than
/// [`TEST_TIMEOUT`] or returns an error.
fn run<F, Fut>(address: SocketAddr, body: F)
where
    F: FnOnce(SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || {
        let mut runtime =
            monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().expect("runtime");
        let result = runtime.block_on(body(address));
        let _ = done.send(result.map_err(|error| error.to_string()));
    });
    match outcome.recv_timeout(TEST_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("client call failed: {error}"),
        Err(_) => panic!("test did not finish within {TEST_TIMEOUT:?}"),
    }
}

fn root() -> Credentials {
    Credentials::Password { username: ROOT_USERNAME.into(), password: ROOT_PASSWORD.into() }
}

fn named(name: &str) -> Identifier {
    Identifier::named(name).expect("valid name")
}

async fn messages_round_trip(address: SocketAddr, dialect: Dialect) -> Result<(), ClientError> {
    let mut client = Client::connect_and_login(address, dialect, &root()).await?;
    client.ping().await?;
    let stream_name = format!("orders-{}", dialect.name());
    let stream = named(&stream_name);
    let created = client.create_stream(&stream_name).await?;
    assert_eq!(created.stream.name, stream_name);
    let topic = named("created");
    let details = client.create_topic(&stream, &TopicSpec::new("created", 3)).await?;
    assert_eq!(details.partitions.len(), 3);

    let messages: Vec<Message> = (0..5).map(|i| Message::new(format!("message-{i}"))).collect();
    client.send_messages(&stream, &topic, Partitioning::PartitionId(1), &messages).await?;
    let mut prepared = client.prepare_send(&stream, &topic, Partitioning::PartitionId(1), &messages[..2])?;
    let origin = now_micros() - 1_000_000;
    prepared.restamp(origin);
    let prepared = client.send_prepared(prepared).await?;
    assert_eq!(prepared.count(), 2);

    let consumer = Consumer { kind: ConsumerKind::Consumer, id: named("reader") };
    let spec = PollSpec {
        consumer: consumer.clone(),
        stream: stream.clone(),
        topic: topic.clone(),
        partition_id: Some(1),
        strategy: PollingStrategy::Offset(0),
        count: 100,
        auto_commit: false,
    };
    let polled = client.poll_messages(&spec).await?;
    assert_eq!(polled.partition_id, 1);
    assert_eq!(polled.current_offset, 6);
    let offsets: Vec<u64> = polled.messages.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (0..7).collect::<Vec<_>>());
    assert_eq!(polled.messages[4].payload, "message-4");
    assert_eq!(polled.messages[6].payload, "message-1");
    assert_eq!(polled.messages[5].origin_timestamp, origin, "restamped origin survives the round trip");
    assert!(polled.messages.iter().all(|m| m.id != 0), "every message has an id");

    client.store_consumer_offset(&consumer, &stream, &topic, Some(1), 3).await?;
    let stored = client.consumer_offset(&consumer, &stream, &topic, Some(1)).await?.expect("stored offset");
    assert_eq!((stored.stored_offset, stored.current_offset), (3, 6));
    let next = client.poll_messages(&PollSpec { strategy: PollingStrategy::Next, count: 2, ..spec.clone() }).await?;
    assert_eq!(next.messages.iter().map(|m| m.offset).collect::<Vec<_>>(), [4, 5]);
    client.delete_consumer_offset(&consumer, &stream, &topic, Some(1)).await?;
    assert!(client.consumer_offset(&consumer, &stream, &topic, Some(1)).await?.is_none());

    client.flush(&stream, &topic, 1, true).await?;
    let empty = client.poll_messages(&PollSpec { partition_id: Some(2), ..spec }).await?;
    assert!(empty.messages.is_empty());
    client.delete_stream(&stream).await?;
    assert!(client.stream(&stream).await?.is_none());
    Ok(())
}

async fn admin_round_trip(address: SocketAddr, dialect: Dialect) -> Result<(), ClientError> {
    let mut client = Client::connect_and_login(address, dialect, &root()).await?;
    let name = format!("admin-{}", dialect.name());
    let stream = named(&name);
    client.create_stream(&name).await?;
    let topic = named("events");
    client.create_topic(&stream, &TopicSpec::new("events", 1)).await?;
    if dialect == Dialect::V011 {
        let durable = TopicSpec::new("durable", 1).option("durability", "always").option("segment_size", "64KiB");
        client.create_topic(&stream, &durable).await?;
        let options = client.topic(&stream, &named("durable")).await?.expect("topic").topic.options;
        assert_eq!(options.get_str("durability"), Some("always"));
        let bad = TopicSpec::new("bad", 1).option("durability", "sometimes");
        let error = client.create_topic(&stream, &bad).await.expect_err("bad durability");
        assert_eq!(error.status().and_then(ErrorCode::from_u32), Some(ErrorCode::InvalidOptionValue));
        client.delete_topic(&stream, &named("durable")).await?;
    } else {
        let spec = TopicSpec::new("durable", 1).option("durability", "always");
        assert!(matches!(client.create_topic(&stream, &spec).await, Err(ClientError::Unsupported { .. })));
    }
    client.create_partitions(&stream, &topic, 2).await?;
    assert_eq!(client.topic(&stream, &topic).await?.expect("topic").partitions.len(), 3);
    client.delete_partitions(&stream, &topic, 1).await?;
    assert_eq!(client.topics(&stream).await?[0].partitions_count, 2);

    let group = client.create_group(&stream, &topic, "workers").await?;
    assert_eq!(group.group.name, "workers");
    let group_id = named("workers");
    client.join_group(&stream, &topic, &group_id).await?;
    let joined = client.group(&stream, &topic, &group_id).await?.expect("group");
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].partitions, [0, 1]);
    client.leave_group(&stream, &topic, &group_id).await?;
    assert_eq!(client.groups(&stream, &topic).await?[0].members_count, 0);
    client.delete_group(&stream, &topic, &group_id).await?;

    let username = format!("reader-{}", dialect.name());
    let user = UserSpec { username: username.clone(), password: "secret-1".into(), active: true, permissions: None };
    let created = client.create_user(&user).await?;
    assert_eq!(created.user.username, username);
    let user_id = named(&username);
    let mut permissions = Permissions::default();
    permissions.global.read_streams = true;
    client.update_permissions(&user_id, Some(permissions)).await?;
    let fetched = client.user(&user_id).await?.expect("user");
    assert!(fetched.permissions.expect("permissions").global.read_streams);

    let mut reader = Client::connect_and_login(
        address,
        dialect,
        &Credentials::Password { username: username.clone(), password: "secret-1".into() },
    )
    .await?;
    assert!(reader.streams().await?.iter().any(|s| s.name == name), "read_streams lets the user list");
    let denied = reader.create_stream("not-allowed").await.expect_err("no manage_streams grant");
    assert_eq!(denied.status(), Some(41));
    reader.change_password(&user_id, "secret-1", "secret-2").await?;
    let token = reader.create_personal_access_token("ci-token", 0).await?;
    assert_eq!(reader.personal_access_tokens().await?.len(), 1);
    reader.logout().await?;

    let mut with_token = Client::connect_and_login(address, dialect, &Credentials::PersonalAccessToken(token)).await?;
    assert_eq!(with_token.session().expect("session").user_id, created.user.id);
    with_token.delete_personal_access_token("ci-token").await?;
    let wrong =
        Client::connect_and_login(address, dialect, &Credentials::Password { username, password: "secret-1".into() })
            .await;
    let error = wrong.err().expect("old password refused");
    assert!(matches!(error.status(), Some(42) | Some(40)), "refused with {error}");

    client.delete_user(&user_id).await?;
    let ended = with_token.me().await.expect_err("a deleted user's live session ends");
    assert_eq!(ended.status(), Some(40), "{ended}");
    assert!(client.users().await?.iter().all(|u| u.username != format!("reader-{}", dialect.name())));
    let missing = client.stream(&named("no-such-stream")).await?;
    assert!(missing.is_none());
    let error = client.delete_stream(&named("no-such-stream")).await.expect_err("missing stream");
    assert!(error.is_not_found(), "{error}");
    let stats = client.stats().await?;
    assert!(stats.streams_count >= 1);
    assert!(!client.clients().await?.is_empty());
    assert_eq!(client.me().await?.client.user_id, 0);
    client.delete_stream(&stream).await?;
    Ok(())
}

#[test]
fn messages_and_offsets_in_both_dialects() {
    let server = TestServer::start();
    run(server.address(), |address| messages_round_trip(address, Dialect::V011));
    run(server.address(), |address| messages_round_trip(address, Dialect::Legacy));
}

#[test]
fn admin_commands_in_both_dialects() {
    let server = TestServer::start();
    run(server.address(), |address| admin_round_trip(address, Dialect::V011));
    run(server.address(), |address| admin_round_trip(address, Dialect::Legacy));
}

#[test]
fn calls_before_login_are_refused_and_ping_is_not() {
    let server = TestServer::start();
    run(server.address(), |address| async move {
        let mut client = Client::connect(address, Dialect::V011).await?;
        client.ping().await?;
        let error = client.streams().await.expect_err("unauthenticated");
        assert_eq!(error.status(), Some(40));
        let mut legacy = Client::connect(address, Dialect::Legacy).await?;
        legacy.ping().await?;
        assert_eq!(legacy.streams().await.expect_err("unauthenticated").status(), Some(40));
        Ok(())
    });
}
