//! Compatibility with the official Apache Iggy Rust SDK 0.11.0 (VSR dialect): one scenario per
//! command group, each against a fresh `whippet-server` (two shards, temporary data directory),
//! through the SDK's public API only.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use iggy::prelude::{
    Client, ClusterClient, ClusterNodeRole, ClusterNodeStatus, CompressionAlgorithm, Consumer, ConsumerGroupClient,
    ConsumerGroupDetails, ConsumerOffsetClient, GlobalPermissions, HeaderKey, HeaderValue, Identifier, IdentityInfo,
    IggyByteSize, IggyClient, IggyDuration, IggyError, IggyExpiry, IggyMessage, MaxTopicSize, MessageClient,
    PartitionClient, Partitioning, Permissions, PersonalAccessTokenClient, PersonalAccessTokenExpiry, PolledMessages,
    PollingStrategy, SegmentClient, StreamClient, StreamPermissions, StreamUpdateOptions, SystemClient, TopicClient,
    TopicCreateOptions, TopicPermissions, TopicUpdateOptions, UserClient, UserStatus, UserUpdateOptions,
};
use support::{
    CODE_CONSUMER_GROUP_NAME_ALREADY_EXISTS, CODE_INVALID_CREDENTIALS, CODE_INVALID_PERSONAL_ACCESS_TOKEN,
    CODE_PERSONAL_ACCESS_TOKEN_EXPIRED, CODE_STREAM_NAME_ALREADY_EXISTS, CODE_TOPIC_NAME_ALREADY_EXISTS,
    CODE_UNAUTHENTICATED, CODE_USER_INACTIVE, ROOT_PASSWORD, ROOT_USER_ID, ROOT_USERNAME, Server, ServerOptions,
    bounded, connection_string, eventually, key_partition, token_connection_string,
};

/// `IggyError::UserAlreadyExists` and `PersonalAccessTokenAlreadyExists`.
const CODE_USER_ALREADY_EXISTS: u32 = 46;
const CODE_PERSONAL_ACCESS_TOKEN_ALREADY_EXISTS: u32 = 51;

// ---------------------------------------------------------------------------------------------------
// SDK 0.11 helpers.
// ---------------------------------------------------------------------------------------------------

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

fn numeric(id: u32) -> Identifier {
    Identifier::numeric(id).unwrap()
}

/// A single consumer that never commits (reads by explicit offset).
fn reader() -> Consumer {
    Consumer::new(numeric(1))
}

/// A client that signs in as `username` during `connect()`; `extra_options` is appended to the
/// connection string (`&heartbeat_interval=…`).
fn client_for(address: SocketAddr, username: &str, password: &str, extra_options: &str) -> IggyClient {
    let connection_string = connection_string(address, username, password, extra_options);
    IggyClient::from_connection_string(&connection_string)
        .unwrap_or_else(|error| panic!("connection string {connection_string}: {error}"))
}

async fn connect_with(address: SocketAddr, username: &str, password: &str, extra_options: &str) -> IggyClient {
    let client = client_for(address, username, password, extra_options);
    bounded("connect + login", client.connect())
        .await
        .unwrap_or_else(|error| panic!("connect + login as {username}: {error}"));
    client
}

/// A connected client logged in as the root user.
async fn root_client(address: SocketAddr) -> IggyClient {
    connect_with(address, ROOT_USERNAME, ROOT_PASSWORD, "").await
}

/// A connected client without a session (no auto-login, no reconnects).
async fn anonymous_client(address: SocketAddr) -> IggyClient {
    let client = IggyClient::builder()
        .with_tcp()
        .with_server_address(address.to_string())
        .with_reconnection_max_retries(Some(0))
        .with_no_delay()
        .build()
        .expect("build TCP client");
    bounded("connect", client.connect()).await.expect("connect without credentials");
    client
}

/// Connects without credentials and signs in explicitly with `login_user`.
async fn login(address: SocketAddr, username: &str, password: &str) -> Result<IggyClient, IggyError> {
    let client = anonymous_client(address).await;
    match bounded("login_user", client.login_user(username, password)).await {
        Ok(_) => Ok(client),
        Err(error) => {
            close(client).await;
            Err(error)
        }
    }
}

/// Connects without credentials and signs in with a personal access token.
async fn login_with_token(address: SocketAddr, token: &str) -> Result<(IggyClient, IdentityInfo), IggyError> {
    let client = anonymous_client(address).await;
    match bounded("login_with_personal_access_token", client.login_with_personal_access_token(token)).await {
        Ok(identity) => Ok((client, identity)),
        Err(error) => {
            close(client).await;
            Err(error)
        }
    }
}

async fn close(client: IggyClient) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.shutdown()).await;
}

/// The error code of a call that must fail.
fn error_code<T: std::fmt::Debug>(what: &str, result: Result<T, IggyError>) -> u32 {
    match result {
        Ok(value) => panic!("{what}: expected an error, got Ok({value:?})"),
        Err(error) => error.as_code(),
    }
}

fn assert_unauthorized<T: std::fmt::Debug>(what: &str, result: Result<T, IggyError>) {
    match result {
        Err(IggyError::Unauthorized) => {}
        other => panic!("{what}: expected IggyError::Unauthorized (41), got {other:?}"),
    }
}

async fn create_stream(client: &IggyClient, stream: &str) -> u32 {
    let details = bounded("create_stream", client.create_stream(stream)).await.expect("create_stream");
    assert_eq!(details.name, stream);
    assert_eq!(details.topics_count, 0);
    details.id
}

async fn create_topic(client: &IggyClient, stream: &str, topic: &str, partitions: u32) -> u32 {
    let options = TopicCreateOptions { partitions_count: Some(partitions), ..TopicCreateOptions::default() };
    let details =
        bounded("create_topic", client.create_topic(&named(stream), topic, &options)).await.expect("create_topic");
    assert_eq!(details.name, topic);
    assert_eq!(details.partitions_count, partitions);
    details.id
}

fn message(payload: String) -> IggyMessage {
    IggyMessage::builder().payload(Bytes::from(payload)).build().expect("message")
}

fn messages(prefix: &str, count: usize) -> Vec<IggyMessage> {
    (0..count).map(|i| message(format!("{prefix}-{i}"))).collect()
}

async fn send(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partitioning: &Partitioning,
    mut batch: Vec<IggyMessage>,
) -> Result<(), IggyError> {
    bounded("send_messages", client.send_messages(&named(stream), &named(topic), partitioning, &mut batch))
        .await
        .map(|_| ())
}

async fn send_to(client: &IggyClient, stream: &str, topic: &str, partition: u32, batch: Vec<IggyMessage>) {
    send(client, stream, topic, &Partitioning::partition_id(partition), batch)
        .await
        .unwrap_or_else(|error| panic!("send to {stream}/{topic}/{partition}: {error}"));
}

#[allow(clippy::too_many_arguments)]
async fn poll(
    client: &IggyClient,
    stream: &str,
    topic: &str,
    partition: Option<u32>,
    consumer: &Consumer,
    strategy: PollingStrategy,
    count: u32,
    auto_commit: bool,
) -> Result<PolledMessages, IggyError> {
    bounded(
        "poll_messages",
        client.poll_messages(&named(stream), &named(topic), partition, consumer, &strategy, count, auto_commit),
    )
    .await
}

/// Reads one partition by explicit offset from 0 without committing.
async fn read_partition(client: &IggyClient, stream: &str, topic: &str, partition: u32) -> Vec<IggyMessage> {
    let mut out: Vec<IggyMessage> = Vec::new();
    for _ in 0..100 {
        let strategy = PollingStrategy::offset(out.len() as u64);
        let polled = poll(client, stream, topic, Some(partition), &reader(), strategy, 100, false)
            .await
            .unwrap_or_else(|error| panic!("poll {stream}/{topic}/{partition}: {error}"));
        if polled.messages.is_empty() {
            return out;
        }
        out.extend(polled.messages);
    }
    panic!("{stream}/{topic}/{partition}: still not empty after 100 polls");
}

fn offsets(polled: &PolledMessages) -> Vec<u64> {
    polled.messages.iter().map(|m| m.header.offset).collect()
}

fn payloads(messages: &[IggyMessage]) -> Vec<String> {
    messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect()
}

async fn get_group(client: &IggyClient, stream: &str, topic: &str, group: &str) -> Option<ConsumerGroupDetails> {
    bounded("get_consumer_group", client.get_consumer_group(&named(stream), &named(topic), &named(group)))
        .await
        .expect("get_consumer_group")
}

/// Checks that the group's members are exactly `members` (client ids), each holding
/// `per_member` partitions, and that every partition `0..partitions` has exactly one owner.
fn assert_assignment(group: &ConsumerGroupDetails, members: &BTreeSet<u32>, partitions: u32, per_member: usize) {
    let ids: BTreeSet<u32> = group.members.iter().map(|m| m.id).collect();
    assert_eq!(&ids, members, "group members: {group:?}");
    assert_eq!(group.members_count as usize, members.len(), "members_count: {group:?}");
    let mut owned = Vec::new();
    for member in &group.members {
        assert_eq!(member.partitions.len(), per_member, "member {} partitions: {group:?}", member.id);
        assert_eq!(member.partitions_count as usize, member.partitions.len(), "member {}: {group:?}", member.id);
        owned.extend(member.partitions.iter().copied());
    }
    owned.sort_unstable();
    assert_eq!(owned, (0..partitions).collect::<Vec<_>>(), "each partition must have exactly one owner: {group:?}");
}

async fn client_id(client: &IggyClient) -> u32 {
    bounded("get_me", client.get_me()).await.expect("get_me").client_id
}

// ---------------------------------------------------------------------------------------------------
// System.
// ---------------------------------------------------------------------------------------------------

/// PING, GET_STATS (counts reflect what the test created), GET_ME, GET_CLIENTS, GET_CLIENT and
/// GET_CLUSTER_METADATA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_ping_stats_clients_and_cluster_metadata() {
    let server = Server::start();
    let address = server.address();
    let client = root_client(address).await;
    bounded("ping", client.ping()).await.expect("ping");

    create_stream(&client, "stats-a").await;
    create_topic(&client, "stats-a", "t1", 2).await;
    create_topic(&client, "stats-a", "t2", 3).await;
    create_stream(&client, "stats-b").await;
    create_topic(&client, "stats-b", "t3", 1).await;
    send_to(&client, "stats-a", "t1", 0, messages("a", 4)).await;
    send_to(&client, "stats-b", "t3", 0, messages("b", 3)).await;

    let stats = bounded("get_stats", client.get_stats()).await.expect("get_stats");
    assert_eq!(stats.streams_count, 2, "{stats:?}");
    assert_eq!(stats.topics_count, 3, "{stats:?}");
    assert_eq!(stats.partitions_count, 6, "{stats:?}");
    assert_eq!(stats.messages_count, 7, "{stats:?}");
    assert_eq!(stats.process_id, server.pid(), "{stats:?}");
    assert!(stats.memory_usage.as_bytes_u64() > 0, "memory_usage: {stats:?}");

    // A stored (uncompressed) ZIP, so the names and the redacted config are readable bytes.
    let snapshot = bounded(
        "snapshot",
        client.snapshot(
            iggy::prelude::SnapshotCompression::Stored,
            vec![iggy::prelude::SystemSnapshotType::Test, iggy::prelude::SystemSnapshotType::ServerConfig],
        ),
    )
    .await
    .expect("snapshot");
    let zip = snapshot.0;
    assert!(zip.starts_with(b"PK\x03\x04"), "not a ZIP: {:?}", &zip[..zip.len().min(8)]);
    let contains = |needle: &[u8]| zip.windows(needle.len()).any(|window| window == needle);
    assert!(contains(b"test.txt") && contains(b"server_config.toml"));
    assert!(contains(b"root_password = \"<redacted>\""), "the root password must not leave the server");
    let deflated = bounded(
        "snapshot (all, deflated)",
        client.snapshot(iggy::prelude::SnapshotCompression::Deflated, vec![iggy::prelude::SystemSnapshotType::All]),
    )
    .await
    .expect("snapshot all");
    assert!(deflated.0.starts_with(b"PK\x03\x04"));
    assert!(stats.clients_count >= 1, "clients_count: {stats:?}");

    let me = bounded("get_me", client.get_me()).await.expect("get_me");
    assert_eq!(me.user_id, Some(ROOT_USER_ID));
    assert_eq!(me.transport, "TCP");
    let me_address: SocketAddr = me.address.parse().unwrap_or_else(|e| panic!("get_me address {:?}: {e}", me.address));
    assert!(me_address.ip().is_loopback(), "client address {me_address}");
    assert_ne!(me_address.port(), address.port(), "the client's address is its own end of the connection");

    let second = root_client(address).await;
    let second_me = bounded("get_me", second.get_me()).await.expect("get_me");
    assert_ne!(second_me.client_id, me.client_id);
    let anonymous = anonymous_client(address).await;
    bounded("anonymous ping", anonymous.ping()).await.expect("PING before login");

    let clients = bounded("get_clients", client.get_clients()).await.expect("get_clients");
    let mine = clients.iter().find(|c| c.client_id == me.client_id).expect("get_clients lists the caller");
    assert_eq!((mine.address.as_str(), mine.transport.as_str(), mine.user_id), (me.address.as_str(), "TCP", Some(0)));
    let other = clients.iter().find(|c| c.client_id == second_me.client_id).expect("get_clients lists client 2");
    assert_eq!(other.address, second_me.address);
    assert_eq!(other.user_id, Some(ROOT_USER_ID));
    assert!(
        clients.iter().any(|c| c.user_id.is_none()),
        "the anonymous connection is listed without a user: {clients:?}"
    );

    let fetched = bounded("get_client", client.get_client(second_me.client_id))
        .await
        .expect("get_client")
        .expect("get_client finds client 2");
    assert_eq!((fetched.client_id, fetched.user_id), (second_me.client_id, Some(ROOT_USER_ID)));
    assert_eq!((fetched.address.as_str(), fetched.transport.as_str()), (second_me.address.as_str(), "TCP"));
    let missing = bounded("get_client missing", client.get_client(u32::MAX - 7)).await.expect("get_client missing");
    assert!(missing.is_none(), "unknown client id: {missing:?}");

    let metadata = bounded("get_cluster_metadata", client.get_cluster_metadata()).await.expect("cluster metadata");
    assert_eq!(metadata.nodes.len(), 1, "{metadata:?}");
    let node = &metadata.nodes[0];
    assert_eq!((node.role, node.status), (ClusterNodeRole::Leader, ClusterNodeStatus::Healthy), "{metadata:?}");
    assert_eq!(node.endpoints.tcp, address.port(), "{metadata:?}");

    close(second).await;
    close(anonymous).await;
    let observer = &client;
    let gone = eventually(Duration::from_secs(5), move || async move {
        let clients = observer.get_clients().await.unwrap_or_default();
        !clients.iter().any(|c| c.client_id == second_me.client_id)
    })
    .await;
    assert!(gone, "a closed client must disappear from get_clients");
    close(client).await;
    server.stop();
}

/// A client silent for longer than 1.2 × the heartbeat interval is dropped: it vanishes from
/// GET_CLIENTS and loses its consumer-group membership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_timeout_drops_silent_client_and_releases_its_group() {
    let server = Server::start_with(ServerOptions::default().heartbeat_interval("1s"));
    let address = server.address();
    let watcher = connect_with(address, ROOT_USERNAME, ROOT_PASSWORD, "&heartbeat_interval=250ms").await;
    create_stream(&watcher, "hb").await;
    create_topic(&watcher, "hb", "t", 2).await;
    bounded("create_consumer_group", watcher.create_consumer_group(&named("hb"), &named("t"), "hb-group"))
        .await
        .expect("create_consumer_group");

    // The SDK pings once right after connecting and then every hour: silent from here on.
    let silent = connect_with(address, ROOT_USERNAME, ROOT_PASSWORD, "&heartbeat_interval=1h").await;
    bounded("join", silent.join_consumer_group(&named("hb"), &named("t"), &named("hb-group"))).await.expect("join");
    let silent_id = client_id(&silent).await;
    let clients = bounded("get_clients", watcher.get_clients()).await.expect("get_clients");
    assert!(clients.iter().any(|c| c.client_id == silent_id), "silent client listed before the timeout");
    let group = get_group(&watcher, "hb", "t", "hb-group").await.expect("group exists");
    assert_eq!(group.members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![silent_id]);

    let observer = &watcher;
    let dropped = eventually(Duration::from_secs(8), move || async move {
        let clients = observer.get_clients().await.unwrap_or_default();
        let group = get_group(observer, "hb", "t", "hb-group").await;
        !clients.iter().any(|c| c.client_id == silent_id) && group.is_some_and(|g| g.members_count == 0)
    })
    .await;
    let clients = bounded("get_clients", watcher.get_clients()).await.expect("get_clients");
    let group = get_group(&watcher, "hb", "t", "hb-group").await;
    assert!(dropped, "silent client {silent_id} still present after the heartbeat window: {clients:?} {group:?}");
    // The watcher, which kept pinging, is still served.
    bounded("get_me", watcher.get_me()).await.expect("the heartbeating client stays connected");

    close(silent).await;
    close(watcher).await;
    server.stop();
}

// ---------------------------------------------------------------------------------------------------
// Users and permissions.
// ---------------------------------------------------------------------------------------------------

/// Read/poll/send on topic `allowed` of stream `granted` only. No stream-level flag is set: in Iggy's
/// model `read_stream` would include polling every topic of the stream.
fn limited_permissions(granted: u32, allowed: u32) -> Permissions {
    let topic = TopicPermissions { manage_topic: false, read_topic: true, poll_messages: true, send_messages: true };
    let stream =
        StreamPermissions { topics: Some(BTreeMap::from([(allowed as usize, topic)])), ..StreamPermissions::default() };
    Permissions { global: GlobalPermissions::default(), streams: Some(BTreeMap::from([(granted as usize, stream)])) }
}

/// CREATE/GET/UPDATE/DELETE user, permissions enforced for a limited user, CHANGE_PASSWORD,
/// UPDATE_PERMISSIONS, inactive users and wrong passwords refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_permissions() {
    let server = Server::start();
    let address = server.address();
    let root = root_client(address).await;
    let granted = create_stream(&root, "granted").await;
    let allowed = create_topic(&root, "granted", "allowed", 1).await;
    create_topic(&root, "granted", "denied", 1).await;
    create_stream(&root, "private").await;
    create_topic(&root, "private", "events", 1).await;
    send_to(&root, "granted", "denied", 0, messages("secret", 1)).await;

    let nobody = bounded("create_user", root.create_user("nobody", "nobody-pass", UserStatus::Active, None))
        .await
        .expect("create user without permissions");
    assert_eq!((nobody.username.as_str(), nobody.status, &nobody.permissions), ("nobody", UserStatus::Active, &None));
    let permissions = limited_permissions(granted, allowed);
    let alice =
        bounded("create_user", root.create_user("alice", "alice-pass", UserStatus::Active, Some(permissions.clone())))
            .await
            .expect("create user with permissions");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.permissions.as_ref(), Some(&permissions));
    assert_ne!(alice.id, nobody.id);
    let duplicate =
        bounded("create_user duplicate", root.create_user("alice", "x-pass", UserStatus::Active, None)).await;
    assert_eq!(error_code("duplicate user", duplicate), CODE_USER_ALREADY_EXISTS);

    let by_name = bounded("get_user", root.get_user(&named("alice"))).await.expect("get_user").expect("alice exists");
    assert_eq!((by_name.id, by_name.permissions.as_ref()), (alice.id, Some(&permissions)));
    let by_id = bounded("get_user", root.get_user(&numeric(alice.id))).await.expect("get_user").expect("by id");
    assert_eq!(by_id.username, "alice");
    let missing = bounded("get_user missing", root.get_user(&named("no-such-user"))).await;
    assert!(matches!(missing, Ok(None)), "missing user: {missing:?}");
    let users = bounded("get_users", root.get_users()).await.expect("get_users");
    let names: BTreeSet<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, BTreeSet::from([ROOT_USERNAME, "nobody", "alice"]));
    assert!(users.iter().any(|u| u.id == ROOT_USER_ID && u.username == ROOT_USERNAME), "{users:?}");

    check_limited_user(address, alice.id).await;
    check_user_without_permissions(address).await;

    // UPDATE_PERMISSIONS: alice may now read users, on her existing session.
    let alice_client = login(address, "alice", "alice-pass").await.expect("alice logs in");
    assert_unauthorized("alice get_users before the grant", bounded("get_users", alice_client.get_users()).await);
    let mut widened = permissions.clone();
    widened.global.read_users = true;
    bounded("update_permissions", root.update_permissions(&named("alice"), Some(widened.clone())))
        .await
        .expect("update_permissions");
    let updated = bounded("get_user", root.get_user(&named("alice"))).await.unwrap().unwrap();
    assert_eq!(updated.permissions, Some(widened));
    bounded("alice get_users after the grant", alice_client.get_users()).await.expect("read_users granted");
    close(alice_client).await;

    // UPDATE_USER: rename and deactivate, then reactivate.
    let no_options = UserUpdateOptions::default();
    bounded(
        "update_user",
        root.update_user(&named("nobody"), Some("nobody2"), Some(UserStatus::Inactive), &no_options),
    )
    .await
    .expect("update_user");
    assert!(bounded("get_user", root.get_user(&named("nobody"))).await.unwrap().is_none(), "old name gone");
    let renamed = bounded("get_user", root.get_user(&named("nobody2"))).await.unwrap().expect("renamed user");
    assert_eq!((renamed.id, renamed.status), (nobody.id, UserStatus::Inactive));
    // SDK 0.11 maps the server's UserInactive eviction to Unauthenticated; a status reply gives 47.
    let inactive = error_code("inactive login", login(address, "nobody2", "nobody-pass").await);
    assert!([CODE_USER_INACTIVE, CODE_UNAUTHENTICATED].contains(&inactive), "inactive user login: code {inactive}");
    bounded("update_user", root.update_user(&named("nobody2"), None, Some(UserStatus::Active), &no_options))
        .await
        .expect("reactivate");
    close(login(address, "nobody2", "nobody-pass").await.expect("reactivated user logs in")).await;

    // CHANGE_PASSWORD.
    bounded("change_password", root.change_password(&named("alice"), "alice-pass", "alice-new-pass"))
        .await
        .expect("change_password");
    let old = error_code("old password", login(address, "alice", "alice-pass").await);
    assert_eq!(old, CODE_INVALID_CREDENTIALS);
    close(login(address, "alice", "alice-new-pass").await.expect("new password works")).await;
    let wrong = error_code("wrong root password", login(address, ROOT_USERNAME, "not-the-password").await);
    assert_eq!(wrong, CODE_INVALID_CREDENTIALS);

    // DELETE_USER.
    bounded("delete_user", root.delete_user(&named("alice"))).await.expect("delete_user");
    assert!(bounded("get_user", root.get_user(&named("alice"))).await.unwrap().is_none(), "deleted user gone");
    let deleted = error_code("deleted user login", login(address, "alice", "alice-new-pass").await);
    assert_eq!(deleted, CODE_INVALID_CREDENTIALS);
    let users = bounded("get_users", root.get_users()).await.expect("get_users");
    assert_eq!(users.len(), 2, "{users:?}");

    close(root).await;
    server.stop();
}

/// As `alice` (see [`limited_permissions`]): granted reads, polls and sends work, everything else
/// answers Unauthorized.
async fn check_limited_user(address: SocketAddr, alice_id: u32) {
    let alice = login(address, "alice", "alice-pass").await.expect("alice logs in");
    let me = bounded("get_me", alice.get_me()).await.expect("get_me");
    assert_eq!(me.user_id, Some(alice_id));
    bounded("ping", alice.ping()).await.expect("ping");
    let topic = bounded("get_topic", alice.get_topic(&named("granted"), &named("allowed"))).await.expect("get topic");
    assert!(topic.is_some());
    send_to(&alice, "granted", "allowed", 0, messages("alice", 2)).await;
    let polled = poll(&alice, "granted", "allowed", Some(0), &reader(), PollingStrategy::offset(0), 10, false)
        .await
        .expect("poll granted topic");
    assert_eq!(payloads(&polled.messages), vec!["alice-0", "alice-1"]);

    assert_unauthorized("create_stream", bounded("create_stream", alice.create_stream("alice-stream")).await);
    let denied_poll =
        poll(&alice, "granted", "denied", Some(0), &reader(), PollingStrategy::offset(0), 10, false).await;
    assert_unauthorized("poll a topic not granted", denied_poll);
    let private_poll =
        poll(&alice, "private", "events", Some(0), &reader(), PollingStrategy::offset(0), 10, false).await;
    assert_unauthorized("poll a stream not granted", private_poll);
    let denied_send = send(&alice, "granted", "denied", &Partitioning::partition_id(0), messages("x", 1)).await;
    assert_unauthorized("send to a topic not granted", denied_send);
    assert_unauthorized("get_users", bounded("get_users", alice.get_users()).await);
    let create_user = alice.create_user("mallory", "mallory-pass", UserStatus::Active, None);
    assert_unauthorized("create_user", bounded("create_user", create_user).await);
    close(alice).await;
}

/// A user created without permissions can sign in and ping, and nothing more.
async fn check_user_without_permissions(address: SocketAddr) {
    let nobody = login(address, "nobody", "nobody-pass").await.expect("user without permissions logs in");
    bounded("ping", nobody.ping()).await.expect("ping");
    bounded("get_me", nobody.get_me()).await.expect("get_me");
    assert_unauthorized("create_stream", bounded("create_stream", nobody.create_stream("nobody-stream")).await);
    assert_unauthorized("get_users", bounded("get_users", nobody.get_users()).await);
    close(nobody).await;
}

// ---------------------------------------------------------------------------------------------------
// Personal access tokens.
// ---------------------------------------------------------------------------------------------------

/// CREATE (expiring and never-expiring), GET, login with the raw token (explicit and through the
/// connection string), DELETE, and an already expired token refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_access_tokens() {
    let server = Server::start();
    let address = server.address();
    let root = root_client(address).await;

    let forever =
        bounded("create pat", root.create_personal_access_token("forever", PersonalAccessTokenExpiry::NeverExpire))
            .await
            .expect("create never-expiring token");
    let hour = IggyExpiry::ExpireDuration(IggyDuration::new(Duration::from_secs(3600)));
    let hourly =
        bounded("create pat", root.create_personal_access_token("hourly", hour)).await.expect("create hourly token");
    assert!(!forever.token.is_empty() && !hourly.token.is_empty());
    assert_ne!(forever.token, hourly.token);
    let duplicate = bounded(
        "create pat duplicate",
        root.create_personal_access_token("forever", PersonalAccessTokenExpiry::NeverExpire),
    )
    .await;
    assert_eq!(error_code("duplicate token name", duplicate), CODE_PERSONAL_ACCESS_TOKEN_ALREADY_EXISTS);

    let tokens = bounded("get pats", root.get_personal_access_tokens()).await.expect("get_personal_access_tokens");
    let by_name: BTreeMap<&str, Option<u64>> =
        tokens.iter().map(|t| (t.name.as_str(), t.expiry_at.map(|at| at.as_micros()))).collect();
    assert_eq!(by_name.keys().copied().collect::<Vec<_>>(), vec!["forever", "hourly"], "{tokens:?}");
    assert_eq!(by_name["forever"], None, "a never-expiring token has no expiry");
    let now = iggy::prelude::IggyTimestamp::now().as_micros();
    let expiry_at = by_name["hourly"].expect("the hourly token expires");
    let hour_micros = 3_600_000_000;
    assert!(
        expiry_at > now + hour_micros - 120_000_000 && expiry_at < now + hour_micros + 120_000_000,
        "hourly token expires at {expiry_at}, now is {now}"
    );

    let (token_client, identity) = login_with_token(address, &forever.token).await.expect("login with token");
    assert_eq!(identity.user_id, ROOT_USER_ID);
    let me = bounded("get_me", token_client.get_me()).await.expect("get_me with token session");
    assert_eq!(me.user_id, Some(ROOT_USER_ID));
    bounded("get_streams", token_client.get_streams()).await.expect("token session has root's permissions");
    close(token_client).await;
    let by_string = IggyClient::from_connection_string(&token_connection_string(address, &hourly.token))
        .expect("token connection string");
    bounded("connect with token", by_string.connect()).await.expect("auto-login with a token");
    let me = bounded("get_me", by_string.get_me()).await.expect("get_me");
    assert_eq!(me.user_id, Some(ROOT_USER_ID));
    close(by_string).await;

    bounded("delete pat", root.delete_personal_access_token("hourly")).await.expect("delete token");
    let tokens = bounded("get pats", root.get_personal_access_tokens()).await.expect("get tokens");
    assert_eq!(tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["forever"]);
    let deleted = error_code("deleted token", login_with_token(address, &hourly.token).await);
    assert!([CODE_INVALID_PERSONAL_ACCESS_TOKEN, CODE_UNAUTHENTICATED].contains(&deleted), "deleted token: {deleted}");

    let second = IggyExpiry::ExpireDuration(IggyDuration::new(Duration::from_secs(1)));
    let short = bounded("create pat", root.create_personal_access_token("short-lived", second))
        .await
        .expect("create 1-second token");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = error_code("expired token", login_with_token(address, &short.token).await);
    assert!(
        [CODE_INVALID_PERSONAL_ACCESS_TOKEN, CODE_PERSONAL_ACCESS_TOKEN_EXPIRED, CODE_UNAUTHENTICATED]
            .contains(&expired),
        "expired token: code {expired}"
    );

    close(root).await;
    server.stop();
}

// ---------------------------------------------------------------------------------------------------
// Streams and topics.
// ---------------------------------------------------------------------------------------------------

/// CREATE/GET/LIST/UPDATE/PURGE/DELETE stream, duplicate name, missing stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams() {
    let server = Server::start();
    let client = root_client(server.address()).await;
    let orders = create_stream(&client, "orders").await;
    let audit = create_stream(&client, "audit").await;
    assert_ne!(orders, audit);

    let by_name = bounded("get_stream", client.get_stream(&named("orders"))).await.unwrap().expect("orders");
    assert_eq!((by_name.id, by_name.name.as_str()), (orders, "orders"));
    let by_id = bounded("get_stream", client.get_stream(&numeric(orders))).await.unwrap().expect("by id");
    assert_eq!(by_id.name, "orders");
    let listed = bounded("get_streams", client.get_streams()).await.expect("get_streams");
    let names: BTreeSet<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["orders", "audit"]));

    let duplicate = bounded("create_stream duplicate", client.create_stream("orders")).await;
    assert!(matches!(duplicate, Err(IggyError::StreamNameAlreadyExists(_))), "duplicate stream: {duplicate:?}");
    assert_eq!(duplicate.unwrap_err().as_code(), CODE_STREAM_NAME_ALREADY_EXISTS);
    let missing = bounded("get_stream missing", client.get_stream(&named("no-such-stream"))).await;
    assert!(matches!(missing, Ok(None)), "missing stream: {missing:?}");
    let missing_id = bounded("get_stream missing id", client.get_stream(&numeric(4242))).await;
    assert!(matches!(missing_id, Ok(None)), "missing stream id: {missing_id:?}");

    create_topic(&client, "orders", "events", 2).await;
    send_to(&client, "orders", "events", 0, messages("p0", 5)).await;
    send_to(&client, "orders", "events", 1, messages("p1", 3)).await;
    let details = bounded("get_stream", client.get_stream(&named("orders"))).await.unwrap().unwrap();
    assert_eq!((details.topics_count, details.messages_count), (1, 8), "{details:?}");
    assert_eq!(details.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["events"]);

    let options = StreamUpdateOptions::default();
    bounded("update_stream", client.update_stream(&named("orders"), "orders-v2", &options)).await.expect("rename");
    assert!(bounded("get_stream", client.get_stream(&named("orders"))).await.unwrap().is_none(), "old name gone");
    let renamed = bounded("get_stream", client.get_stream(&named("orders-v2"))).await.unwrap().expect("new name");
    assert_eq!(renamed.id, orders);

    bounded("purge_stream", client.purge_stream(&named("orders-v2"))).await.expect("purge_stream");
    let purged = bounded("get_stream", client.get_stream(&named("orders-v2"))).await.unwrap().unwrap();
    assert_eq!((purged.topics_count, purged.messages_count), (1, 0), "purge keeps topics, drops messages");
    let topic = bounded("get_topic", client.get_topic(&named("orders-v2"), &named("events"))).await.unwrap().unwrap();
    assert_eq!((topic.partitions_count, topic.messages_count), (2, 0), "{topic:?}");
    for partition in 0..2 {
        assert!(read_partition(&client, "orders-v2", "events", partition).await.is_empty(), "purged partition");
    }

    bounded("delete_stream", client.delete_stream(&named("orders-v2"))).await.expect("delete_stream");
    assert!(bounded("get_stream", client.get_stream(&numeric(orders))).await.unwrap().is_none(), "deleted");
    let listed = bounded("get_streams", client.get_streams()).await.expect("get_streams");
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["audit"]);
    close(client).await;
    server.stop();
}

/// CREATE (partitions, expiry, max size), GET, LIST, UPDATE, PURGE, DELETE topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics() {
    let server = Server::start();
    let client = root_client(server.address()).await;
    create_stream(&client, "catalog").await;
    let hour = IggyExpiry::ExpireDuration(IggyDuration::new(Duration::from_secs(3600)));
    let ten_mib = MaxTopicSize::Custom(IggyByteSize::from(10 * 1024 * 1024));
    let options = TopicCreateOptions {
        partitions_count: Some(3),
        compression_algorithm: Some(CompressionAlgorithm::None),
        message_expiry: Some(hour),
        max_topic_size: Some(ten_mib),
        ..TopicCreateOptions::default()
    };
    let items = bounded("create_topic", client.create_topic(&named("catalog"), "items", &options))
        .await
        .expect("create_topic with options");
    assert_eq!((items.name.as_str(), items.partitions_count, items.partitions.len()), ("items", 3, 3));
    assert_eq!((items.message_expiry, items.max_topic_size), (hour, ten_mib), "{items:?}");
    assert_eq!(items.compression_algorithm, CompressionAlgorithm::None);
    let plain = create_topic(&client, "catalog", "plain", 1).await;
    assert_ne!(plain, items.id);

    let fetched = bounded("get_topic", client.get_topic(&named("catalog"), &named("items"))).await.unwrap().unwrap();
    assert_eq!((fetched.id, fetched.partitions_count, fetched.message_expiry), (items.id, 3, hour));
    assert_eq!(fetched.max_topic_size, ten_mib);
    assert_eq!(fetched.partitions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![0, 1, 2]);
    let by_id = bounded("get_topic", client.get_topic(&named("catalog"), &numeric(items.id))).await.unwrap().unwrap();
    assert_eq!(by_id.name, "items");
    let listed = bounded("get_topics", client.get_topics(&named("catalog"))).await.expect("get_topics");
    let names: BTreeSet<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["items", "plain"]));
    let duplicate = bounded("create_topic duplicate", client.create_topic(&named("catalog"), "items", &options)).await;
    assert_eq!(error_code("duplicate topic", duplicate), CODE_TOPIC_NAME_ALREADY_EXISTS);
    let missing = bounded("get_topic missing", client.get_topic(&named("catalog"), &named("nope"))).await;
    assert!(matches!(missing, Ok(None)), "missing topic: {missing:?}");

    let two_hours = IggyExpiry::ExpireDuration(IggyDuration::new(Duration::from_secs(7200)));
    let twenty_mib = MaxTopicSize::Custom(IggyByteSize::from(20 * 1024 * 1024));
    let update = TopicUpdateOptions {
        message_expiry: Some(two_hours),
        max_topic_size: Some(twenty_mib),
        ..TopicUpdateOptions::default()
    };
    bounded("update_topic", client.update_topic(&named("catalog"), &named("items"), "items-v2", &update))
        .await
        .expect("update_topic");
    let updated = bounded("get_topic", client.get_topic(&named("catalog"), &named("items-v2"))).await.unwrap().unwrap();
    assert_eq!((updated.id, updated.partitions_count), (items.id, 3));
    assert_eq!((updated.message_expiry, updated.max_topic_size), (two_hours, twenty_mib), "{updated:?}");
    assert!(bounded("get_topic", client.get_topic(&named("catalog"), &named("items"))).await.unwrap().is_none());

    for batch in 0..3 {
        let batch = messages(&format!("b{batch}"), 2);
        send(&client, "catalog", "items-v2", &Partitioning::balanced(), batch).await.expect("balanced send");
    }
    let full = bounded("get_topic", client.get_topic(&named("catalog"), &named("items-v2"))).await.unwrap().unwrap();
    assert_eq!(full.messages_count, 6, "{full:?}");
    bounded("purge_topic", client.purge_topic(&named("catalog"), &named("items-v2"))).await.expect("purge_topic");
    let purged = bounded("get_topic", client.get_topic(&named("catalog"), &named("items-v2"))).await.unwrap().unwrap();
    assert_eq!((purged.messages_count, purged.partitions_count), (0, 3), "{purged:?}");
    for partition in 0..3 {
        assert!(read_partition(&client, "catalog", "items-v2", partition).await.is_empty(), "purged partition");
    }

    bounded("delete_topic", client.delete_topic(&named("catalog"), &named("items-v2"))).await.expect("delete_topic");
    assert!(bounded("get_topic", client.get_topic(&named("catalog"), &numeric(items.id))).await.unwrap().is_none());
    let listed = bounded("get_topics", client.get_topics(&named("catalog"))).await.expect("get_topics");
    assert_eq!(listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["plain"]);
    close(client).await;
    server.stop();
}

// ---------------------------------------------------------------------------------------------------
// Partitions and segments.
// ---------------------------------------------------------------------------------------------------

/// CREATE_PARTITIONS / DELETE_PARTITIONS keep ids `0..n-1`; DELETE_SEGMENTS removes the oldest
/// segment (the server runs with 4 KiB segments so a few sends roll several).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_and_segments() {
    let server = Server::start_with(ServerOptions::default().config_toml("[storage]\nsegment_size = 4096\n"));
    let client = root_client(server.address()).await;
    create_stream(&client, "parts").await;
    create_topic(&client, "parts", "t", 2).await;

    let partition_ids = |topic: &iggy::prelude::TopicDetails| topic.partitions.iter().map(|p| p.id).collect::<Vec<_>>();
    bounded("create_partitions", client.create_partitions(&named("parts"), &named("t"), 3))
        .await
        .expect("create_partitions");
    let topic = bounded("get_topic", client.get_topic(&named("parts"), &named("t"))).await.unwrap().unwrap();
    assert_eq!((topic.partitions_count, partition_ids(&topic)), (5, vec![0, 1, 2, 3, 4]));
    send_to(&client, "parts", "t", 4, messages("p4", 2)).await;
    bounded("delete_partitions", client.delete_partitions(&named("parts"), &named("t"), 2))
        .await
        .expect("delete_partitions");
    let topic = bounded("get_topic", client.get_topic(&named("parts"), &named("t"))).await.unwrap().unwrap();
    assert_eq!((topic.partitions_count, partition_ids(&topic)), (3, vec![0, 1, 2]));
    send_to(&client, "parts", "t", 2, messages("p2", 2)).await;
    let gone = send(&client, "parts", "t", &Partitioning::partition_id(4), messages("p4", 1)).await;
    assert!(gone.is_err(), "send to a deleted partition must fail");
    let balanced = send(&client, "parts", "t", &Partitioning::balanced(), messages("bal", 1)).await;
    balanced.expect("balanced send after delete_partitions");

    create_topic(&client, "parts", "seg", 1).await;
    let padding = "x".repeat(400);
    for batch in 0..30 {
        let batch: Vec<IggyMessage> = (0..4).map(|i| message(format!("{batch}-{i}-{padding}"))).collect();
        send_to(&client, "parts", "seg", 0, batch).await;
    }
    let before = bounded("get_topic", client.get_topic(&named("parts"), &named("seg"))).await.unwrap().unwrap();
    let segments_before = before.partitions[0].segments_count;
    assert_eq!(before.partitions[0].messages_count, 120);
    assert!(segments_before > 1, "48 KiB in 4 KiB segments must roll over: {before:?}");
    bounded("delete_segments", client.delete_segments(&named("parts"), &named("seg"), 0, 1))
        .await
        .expect("delete_segments");
    let after = bounded("get_topic", client.get_topic(&named("parts"), &named("seg"))).await.unwrap().unwrap();
    assert_eq!(after.partitions[0].segments_count, segments_before - 1, "{after:?}");
    assert!(after.partitions[0].messages_count < 120, "{after:?}");
    let first = poll(&client, "parts", "seg", Some(0), &reader(), PollingStrategy::first(), 1, false).await.unwrap();
    assert!(offsets(&first)[0] > 0, "the oldest segment is gone: first offset {:?}", offsets(&first));
    close(client).await;
    server.stop();
}

// ---------------------------------------------------------------------------------------------------
// Messages and consumer offsets.
// ---------------------------------------------------------------------------------------------------

fn sample_headers() -> BTreeMap<HeaderKey, HeaderValue> {
    BTreeMap::from([
        (HeaderKey::try_from("kind").unwrap(), HeaderValue::try_from("order").unwrap()),
        (HeaderKey::try_from("seq").unwrap(), HeaderValue::from(42u64)),
        (HeaderKey::try_from("urgent").unwrap(), HeaderValue::from(true)),
        (HeaderKey::try_from("raw").unwrap(), HeaderValue::try_from(&[1u8, 2, 3][..]).unwrap()),
    ])
}

/// SEND with Balanced, PartitionId and MessagesKey partitioning and user headers; POLL with
/// Offset/Timestamp/First/Last/Next and auto-commit; FLUSH_UNSAVED_BUFFER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_send_and_poll() {
    let server = Server::start();
    let client = root_client(server.address()).await;
    create_stream(&client, "msgs").await;
    create_topic(&client, "msgs", "t", 3).await;

    for batch in 0..3 {
        send(&client, "msgs", "t", &Partitioning::balanced(), messages(&format!("bal{batch}"), 2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let with_headers: Vec<IggyMessage> = (0..3)
        .map(|i| {
            let payload = Bytes::from(format!("hdr-{i}"));
            IggyMessage::builder().id(1000 + i).payload(payload).user_headers(sample_headers()).build().unwrap()
        })
        .collect();
    send(&client, "msgs", "t", &Partitioning::partition_id(1), with_headers).await.expect("send with headers");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let key = Partitioning::messages_key_str("user-42").unwrap();
    send(&client, "msgs", "t", &key, messages("key-a", 2)).await.expect("keyed send");
    send(&client, "msgs", "t", &key, messages("key-b", 2)).await.expect("keyed send");

    let mut all = Vec::new();
    for partition in 0..3 {
        all.push(read_partition(&client, "msgs", "t", partition).await);
    }
    // Balanced: each of the three batches went whole to a different partition.
    let balanced: Vec<usize> =
        all.iter().map(|p| payloads(p).iter().filter(|m| m.starts_with("bal")).count()).collect();
    assert_eq!(balanced, vec![2, 2, 2], "balanced batches per partition");
    // PartitionId and user headers.
    let on_one: Vec<&IggyMessage> = all[1].iter().filter(|m| m.payload.starts_with(b"hdr-")).collect();
    assert_eq!(on_one.len(), 3, "partition-id send lands on partition 1");
    for message in &on_one {
        assert!(message.header.id >= 1000 && message.header.id < 1003, "id kept: {}", message.header.id);
        assert_eq!(message.user_headers_map().unwrap(), Some(sample_headers()), "user headers round-trip");
    }
    // MessagesKey: every keyed message on xxh32(key) % 3.
    let home = key_partition("user-42", 3) as usize;
    for (partition, messages) in all.iter().enumerate() {
        let keyed = payloads(messages).iter().filter(|m| m.starts_with("key-")).count();
        assert_eq!(keyed, if partition == home { 4 } else { 0 }, "keyed messages on partition {partition}");
    }
    for (partition, messages) in all.iter().enumerate() {
        let expected: Vec<u64> = (0..messages.len() as u64).collect();
        let got: Vec<u64> = messages.iter().map(|m| m.header.offset).collect();
        assert_eq!(got, expected, "dense offsets on partition {partition}");
        assert!(messages.iter().all(|m| m.header.timestamp > 0), "server stamps timestamps");
    }

    check_polling_strategies(&client, &all[1]).await;

    bounded("flush", client.flush_unsaved_buffer(&named("msgs"), &named("t"), 0, true)).await.expect("flush fsync");
    bounded("flush", client.flush_unsaved_buffer(&named("msgs"), &named("t"), 1, false)).await.expect("flush");
    close(client).await;
    server.stop();
}

/// Offset, First, Last, Timestamp and Next (+ auto-commit) on partition 1, whose full contents are `stored`.
async fn check_polling_strategies(client: &IggyClient, stored: &[IggyMessage]) {
    let count = stored.len() as u64;
    assert!(count >= 4, "partition 1 holds {count} messages");
    let reader = reader();
    let at = |strategy: PollingStrategy, n: u32| poll(client, "msgs", "t", Some(1), &reader, strategy, n, false);
    assert_eq!(offsets(&at(PollingStrategy::offset(1), 2).await.unwrap()), vec![1, 2]);
    assert_eq!(offsets(&at(PollingStrategy::first(), 1).await.unwrap()), vec![0]);
    let last = at(PollingStrategy::last(), 2).await.unwrap();
    assert_eq!(offsets(&last), vec![count - 2, count - 1]);
    assert_eq!(last.current_offset, count - 1);
    assert!(at(PollingStrategy::offset(count), 5).await.unwrap().messages.is_empty(), "poll past the end");
    // Timestamp: the first message stamped at or after a later append's timestamp.
    let first_ts = stored[0].header.timestamp;
    if let Some(later) = stored.iter().position(|m| m.header.timestamp > first_ts) {
        let ts = stored[later].header.timestamp;
        let polled = at(PollingStrategy::timestamp(ts.into()), 100).await.unwrap();
        assert_eq!(offsets(&polled).first().copied(), Some(later as u64), "timestamp poll starts at {later}");
        assert!(polled.messages.iter().all(|m| m.header.timestamp >= ts));
    }
    // Next with auto-commit.
    let auto = Consumer::new(numeric(7));
    let next = |n| poll(client, "msgs", "t", Some(1), &auto, PollingStrategy::next(), n, true);
    assert_eq!(offsets(&next(2).await.unwrap()), vec![0, 1]);
    let committed =
        bounded("get_consumer_offset", client.get_consumer_offset(&auto, &named("msgs"), &named("t"), Some(1)))
            .await
            .unwrap()
            .expect("auto-commit stored an offset");
    assert_eq!(committed.stored_offset, 1);
    assert_eq!(offsets(&next(2).await.unwrap()), vec![2, 3]);
}

/// STORE / GET / DELETE consumer offset for a numeric and a named consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets() {
    let server = Server::start();
    let client = root_client(server.address()).await;
    create_stream(&client, "offs").await;
    create_topic(&client, "offs", "t", 2).await;
    send_to(&client, "offs", "t", 0, messages("p0", 10)).await;
    send_to(&client, "offs", "t", 1, messages("p1", 4)).await;
    let (stream, topic) = (named("offs"), named("t"));
    let by_number = Consumer::new(numeric(11));
    let by_name = Consumer::new(named("offset-reader"));

    let get = |consumer: &Consumer, partition: u32| {
        let consumer = consumer.clone();
        let (stream, topic) = (stream.clone(), topic.clone());
        let client = &client;
        async move {
            bounded("get_consumer_offset", client.get_consumer_offset(&consumer, &stream, &topic, Some(partition)))
                .await
                .expect("get_consumer_offset")
        }
    };
    assert!(get(&by_number, 0).await.is_none(), "nothing stored yet");
    bounded("store", client.store_consumer_offset(&by_number, &stream, &topic, Some(0), 3)).await.expect("store");
    let stored = get(&by_number, 0).await.expect("stored offset");
    assert_eq!((stored.partition_id, stored.stored_offset, stored.current_offset), (0, 3, 9));
    bounded("store", client.store_consumer_offset(&by_name, &stream, &topic, Some(1), 2)).await.expect("store");
    let stored = get(&by_name, 1).await.expect("stored offset");
    assert_eq!((stored.partition_id, stored.stored_offset, stored.current_offset), (1, 2, 3));
    assert!(get(&by_name, 0).await.is_none(), "offsets are per partition");
    let next = poll(&client, "offs", "t", Some(1), &by_name, PollingStrategy::next(), 10, false).await.unwrap();
    assert_eq!(offsets(&next), vec![3], "next resumes after the stored offset");
    bounded("store", client.store_consumer_offset(&by_number, &stream, &topic, Some(0), 5)).await.expect("overwrite");
    assert_eq!(get(&by_number, 0).await.expect("stored").stored_offset, 5);

    bounded("delete", client.delete_consumer_offset(&by_number, &stream, &topic, Some(0))).await.expect("delete");
    assert!(get(&by_number, 0).await.is_none(), "deleted offset");
    bounded("delete", client.delete_consumer_offset(&by_name, &stream, &topic, Some(1))).await.expect("delete");
    assert!(get(&by_name, 1).await.is_none(), "deleted offset");
    close(client).await;
    server.stop();
}

// ---------------------------------------------------------------------------------------------------
// Consumer groups.
// ---------------------------------------------------------------------------------------------------

/// CREATE/GET/LIST/JOIN/LEAVE/DELETE group; three members over six partitions hold two each, and
/// group polls deliver every message exactly once, each member only from its own partitions; after
/// one leaves the other two hold three each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_groups_and_rebalancing() {
    let server = Server::start();
    let address = server.address();
    let admin = root_client(address).await;
    let stream_id = create_stream(&admin, "cg").await;
    let topic_id = create_topic(&admin, "cg", "jobs", 6).await;
    let (stream, topic) = (named("cg"), named("jobs"));

    let created = bounded("create_consumer_group", admin.create_consumer_group(&stream, &topic, "workers"))
        .await
        .expect("create_consumer_group");
    assert_eq!((created.name.as_str(), created.partitions_count, created.members_count), ("workers", 6, 0));
    let duplicate = bounded("create duplicate", admin.create_consumer_group(&stream, &topic, "workers")).await;
    assert_eq!(error_code("duplicate group", duplicate), CODE_CONSUMER_GROUP_NAME_ALREADY_EXISTS);
    let by_id = bounded("get", admin.get_consumer_group(&stream, &topic, &numeric(created.id))).await.unwrap();
    assert_eq!(by_id.expect("group by id").name, "workers");
    assert!(get_group(&admin, "cg", "jobs", "no-such-group").await.is_none(), "missing group");
    let groups = bounded("get_consumer_groups", admin.get_consumer_groups(&stream, &topic)).await.unwrap();
    assert_eq!(groups.iter().map(|g| (g.name.as_str(), g.id)).collect::<Vec<_>>(), vec![("workers", created.id)]);

    // One member holds every partition; GET_ME lists its membership.
    bounded("join", admin.join_consumer_group(&stream, &topic, &named("workers"))).await.expect("join");
    let admin_id = client_id(&admin).await;
    assert_assignment(&get_group(&admin, "cg", "jobs", "workers").await.unwrap(), &BTreeSet::from([admin_id]), 6, 6);
    let me = bounded("get_me", admin.get_me()).await.unwrap();
    let membership: Vec<(u32, u32, u32)> =
        me.consumer_groups.iter().map(|g| (g.stream_id, g.topic_id, g.group_id)).collect();
    assert_eq!(membership, vec![(stream_id, topic_id, created.id)]);
    bounded("leave", admin.leave_consumer_group(&stream, &topic, &named("workers"))).await.expect("leave");
    assert_eq!(get_group(&admin, "cg", "jobs", "workers").await.unwrap().members_count, 0);

    // Three members: two partitions each.
    let mut members = Vec::new();
    for _ in 0..3 {
        let member = root_client(address).await;
        bounded("join", member.join_consumer_group(&stream, &topic, &named("workers"))).await.expect("join");
        let id = client_id(&member).await;
        members.push((id, member));
    }
    let ids: BTreeSet<u32> = members.iter().map(|(id, _)| *id).collect();
    let group = get_group(&admin, "cg", "jobs", "workers").await.unwrap();
    assert_assignment(&group, &ids, 6, 2);

    for partition in 0..6 {
        send_to(&admin, "cg", "jobs", partition, messages(&format!("p{partition}"), 10)).await;
    }
    let assigned = |id: u32| -> BTreeSet<u32> {
        group.members.iter().find(|m| m.id == id).map(|m| m.partitions.iter().copied().collect()).unwrap_or_default()
    };
    let mut seen = BTreeSet::new();
    for _round in 0..40 {
        let mut polled_any = false;
        for (id, member) in &members {
            let group_consumer = Consumer::group(named("workers"));
            let polled = poll(member, "cg", "jobs", None, &group_consumer, PollingStrategy::next(), 4, true)
                .await
                .unwrap_or_else(|error| panic!("group poll by member {id}: {error}"));
            if polled.messages.is_empty() {
                continue;
            }
            polled_any = true;
            assert!(
                assigned(*id).contains(&polled.partition_id),
                "member {id} polled partition {}",
                polled.partition_id
            );
            for message in &polled.messages {
                let fresh = seen.insert((polled.partition_id, message.header.offset));
                assert!(fresh, "partition {} offset {} delivered twice", polled.partition_id, message.header.offset);
            }
        }
        if !polled_any && seen.len() == 60 {
            break;
        }
    }
    let expected: BTreeSet<(u32, u64)> = (0..6).flat_map(|p| (0..10).map(move |o| (p, o))).collect();
    assert_eq!(seen, expected, "the group must receive every message exactly once");

    // One member leaves: the two left hold three partitions each.
    let (left_id, leaver) = members.pop().unwrap();
    bounded("leave", leaver.leave_consumer_group(&stream, &topic, &named("workers"))).await.expect("leave");
    let remaining: BTreeSet<u32> = members.iter().map(|(id, _)| *id).collect();
    assert!(!remaining.contains(&left_id));
    assert_assignment(&get_group(&admin, "cg", "jobs", "workers").await.unwrap(), &remaining, 6, 3);

    bounded("delete group", admin.delete_consumer_group(&stream, &topic, &named("workers"))).await.expect("delete");
    assert!(get_group(&admin, "cg", "jobs", "workers").await.is_none(), "deleted group");
    let groups = bounded("get_consumer_groups", admin.get_consumer_groups(&stream, &topic)).await.unwrap();
    assert!(groups.is_empty(), "{groups:?}");

    close(leaver).await;
    for (_, member) in members {
        close(member).await;
    }
    close(admin).await;
    server.stop();
}
