"""The Python SDK apache-iggy 0.9.0 (Rust SDK 0.11.0 inside, protocol 0.11 in VSR framing) against
whippet-server. All tests share one server (conftest.py), so each uses stream names of its own."""

import asyncio
import datetime
import struct

import pytest
from apache_iggy import (
    AutoCommit,
    AutoCommitWhen,
    Consumer,
    IggyClient,
    Partitioning,
    PollingStrategy,
    SendMessage,
)
from conftest import bounded, run

GET_CONSUMER_OFFSET = 120
STORE_CONSUMER_OFFSET = 121
CONSUMER_KIND_SINGLE = 1
CONSUMER_KIND_GROUP = 2


async def connected(server, password: str = "iggy") -> IggyClient:
    client = IggyClient.from_connection_string(f"iggy://iggy:{password}@{server.address}")
    await bounded(client.connect(), 5, "connect and log in")
    return client


async def poll(client, stream, topic, consumer, strategy, count=1000, auto_commit=False, partition=None):
    return await client.poll_messages(
        stream, topic, consumer=consumer, polling_strategy=strategy, count=count, auto_commit=auto_commit,
        partition_id=partition)


def _name_id(name: str) -> bytes:
    """A string identifier on the wire (protocol §2.2): kind 2, length, UTF-8 bytes."""
    raw = name.encode()
    return bytes([2, len(raw)]) + raw


def _offset_request(kind: int, consumer: str, stream: str, topic: str, partition: int) -> bytes:
    """Consumer, stream id, topic id, optional partition (present) — protocol §5.7."""
    return (bytes([kind]) + _name_id(consumer) + _name_id(stream) + _name_id(topic)
            + bytes([1]) + struct.pack("<I", partition))


async def stored_offset(client, kind, consumer, stream, topic, partition):
    """GET_CONSUMER_OFFSET through the SDK's raw request: (current offset, stored offset), or None
    when the consumer has stored nothing on that partition. The SDK exposes no typed call for it."""
    reply = await client.send_binary_request(
        GET_CONSUMER_OFFSET, _offset_request(kind, consumer, stream, topic, partition))
    if not reply:
        return None
    partition_id, current, stored = struct.unpack("<IQQ", reply)
    assert partition_id == partition
    return current, stored


async def store_offset(client, kind, consumer, stream, topic, partition, offset):
    """STORE_CONSUMER_OFFSET through the SDK's raw request, with the 0.11 trailing ack byte (1)."""
    await client.send_binary_request(
        STORE_CONSUMER_OFFSET,
        _offset_request(kind, consumer, stream, topic, partition) + struct.pack("<Q", offset) + bytes([1]))


def test_send_and_poll_every_partition(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("orders")
        await client.create_topic("orders", "events", partitions_count=4)
        topic = await client.get_topic("orders", "events")
        assert topic.name == "events" and topic.partitions_count == 4
        sent = {partition: [f"p{partition}-m{i}" for i in range(50)] for partition in range(4)}
        for partition, payloads in sent.items():
            for start in range(0, len(payloads), 10):
                batch = [SendMessage(text) for text in payloads[start:start + 10]]
                response = await client.send_messages("orders", "events", partition, batch)
                confirmed = [(c.partition_id, c.base_offset) for c in response.confirmations]
                assert confirmed == [(partition, start)]
        for partition, payloads in sent.items():
            polled = await poll(client, "orders", "events", Consumer.Single("reader"), PollingStrategy.Offset(0),
                                partition=partition)
            assert [m.offset() for m in polled] == list(range(len(payloads)))
            assert [m.payload().decode() for m in polled] == payloads
            assert all(m.partition_id() == partition for m in polled)
            middle = await poll(client, "orders", "events", Consumer.Single("reader"), PollingStrategy.Offset(20),
                                count=5, partition=partition)
            assert [m.payload().decode() for m in middle] == payloads[20:25]
        assert (await client.get_topic("orders", "events")).messages_count == 200
        assert (await client.get_stream("orders")).topics_count == 1

        # Balanced and by-key partitioning: SDK 0.11 picks the partition itself (round-robin from 0,
        # xxh32(key) % count) and sends it as an explicit partition id.
        await client.create_topic("orders", "spread", partitions_count=4)
        for i in range(8):
            await client.send_messages("orders", "spread", Partitioning.balanced(), [SendMessage(f"b{i}")])
        await client.send_messages("orders", "spread", Partitioning.messages_key("customer-7"),
                                   [SendMessage(f"k{i}") for i in range(5)])
        per_partition = {}
        for partition in range(4):
            polled = await poll(client, "orders", "spread", Consumer.Single("reader"), PollingStrategy.First(),
                                partition=partition)
            per_partition[partition] = [m.payload().decode() for m in polled]
        balanced = {p: [t for t in texts if t.startswith("b")] for p, texts in per_partition.items()}
        assert sorted(len(texts) for texts in balanced.values()) == [2, 2, 2, 2]
        assert sorted(t for texts in balanced.values() for t in texts) == sorted(f"b{i}" for i in range(8))
        keyed = [texts for texts in per_partition.values() if any(t.startswith("k") for t in texts)]
        assert len(keyed) == 1 and [t for t in keyed[0] if t.startswith("k")] == [f"k{i}" for i in range(5)]

    run(scenario())


def test_offsets_auto_commit_store_and_get(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("offsets")
        await client.create_topic("offsets", "t", partitions_count=2)
        for partition in range(2):
            await client.send_messages(
                "offsets", "t", partition, [SendMessage(f"p{partition}-m{i}") for i in range(20)])
        worker = Consumer.Single("worker")
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 0) is None

        # Auto-commit through Next: each poll continues after the last message the previous one returned.
        first = await poll(client, "offsets", "t", worker, PollingStrategy.Next(), count=7, auto_commit=True,
                           partition=0)
        assert [m.offset() for m in first] == list(range(7))
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 0) == (19, 6)
        second = await poll(client, "offsets", "t", worker, PollingStrategy.Next(), count=100, auto_commit=True,
                            partition=0)
        assert [m.offset() for m in second] == list(range(7, 20))
        again = await poll(client, "offsets", "t", worker, PollingStrategy.Next(), count=100, auto_commit=True,
                           partition=0)
        assert again == []
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 0) == (19, 19)

        # Polls without auto-commit leave the stored offset alone.
        last = await poll(client, "offsets", "t", worker, PollingStrategy.Last(), count=3, partition=0)
        assert [m.payload().decode() for m in last] == ["p0-m17", "p0-m18", "p0-m19"]
        peek = await poll(client, "offsets", "t", worker, PollingStrategy.Next(), count=5, partition=1)
        assert [m.offset() for m in peek] == list(range(5))
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 1) is None

        # An explicit store moves Next; offsets are per consumer and per partition.
        await store_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 1, 11)
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 1) == (19, 11)
        resumed = await poll(client, "offsets", "t", worker, PollingStrategy.Next(), count=3, partition=1)
        assert [m.payload().decode() for m in resumed] == ["p1-m12", "p1-m13", "p1-m14"]
        assert await stored_offset(client, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 0) == (19, 19)
        other = await poll(client, "offsets", "t", Consumer.Single("other"), PollingStrategy.Next(), count=2,
                           partition=0)
        assert [m.offset() for m in other] == [0, 1]

        # The stored offset lives on the server: a second connection sees it.
        fresh = await connected(server)
        assert await stored_offset(fresh, CONSUMER_KIND_SINGLE, "worker", "offsets", "t", 1) == (19, 11)
        tail = await poll(fresh, "offsets", "t", worker, PollingStrategy.Next(), count=100, auto_commit=True,
                          partition=1)
        assert [m.offset() for m in tail] == list(range(12, 20))

    run(scenario())


def test_consumer_group_create_join_poll_leave(server):
    async def scenario():
        first = await connected(server)
        second = await connected(server)
        await first.create_stream("groups")
        await first.create_topic("groups", "t", partitions_count=3)
        sent = {partition: [f"p{partition}-m{i}" for i in range(10)] for partition in range(3)}
        for partition, payloads in sent.items():
            await first.send_messages("groups", "t", partition, [SendMessage(text) for text in payloads])

        assert await first.get_consumer_group("groups", "t", "workers") is None
        await first.create_consumer_group("groups", "t", "workers")
        with pytest.raises(RuntimeError):
            await first.create_consumer_group("groups", "t", "workers")
        group = await first.get_consumer_group("groups", "t", "workers")
        assert (group.name, group.partitions_count, group.members_count) == ("workers", 3, 0)
        assert [g.name for g in await first.get_consumer_groups("groups", "t")] == ["workers"]
        with pytest.raises(RuntimeError):
            await first.join_consumer_group("groups", "t", "no-such-group")

        # One member owns every partition and reads all of them through the group (no partition
        # given: the SDK syncs the assignment and polls the assigned partitions in turn).
        await first.join_consumer_group("groups", "t", "workers")
        group = await first.get_consumer_group("groups", "t", "workers")
        assert group.members_count == 1
        assert sorted(group.members[0].partitions) == [0, 1, 2]
        received = []
        for _ in range(12):
            batch = await poll(first, "groups", "t", Consumer.Group("workers"), PollingStrategy.Next(), count=100,
                               auto_commit=True)
            received += [(m.partition_id(), m.offset(), m.payload().decode()) for m in batch]
            if len(received) >= 30:
                break
        assert sorted(received) == sorted(
            (partition, offset, text) for partition, payloads in sent.items() for offset, text in enumerate(payloads))
        await first.leave_consumer_group("groups", "t", "workers")
        assert (await first.get_consumer_group("groups", "t", "workers")).members_count == 0

        # The group's offsets are shared: a new member continues where the first one stopped.
        await second.join_consumer_group("groups", "t", "workers")
        for partition in range(3):
            assert await stored_offset(second, CONSUMER_KIND_GROUP, "workers", "groups", "t", partition) == (9, 9)
            rest = await poll(second, "groups", "t", Consumer.Group("workers"), PollingStrategy.Next(),
                              auto_commit=True, partition=partition)
            assert rest == []

        # Two members split the partitions between them.
        await first.join_consumer_group("groups", "t", "workers")
        group = await first.get_consumer_group("groups", "t", "workers")
        assert group.members_count == 2
        owned = [sorted(member.partitions) for member in group.members]
        assert all(owned) and sorted(p for partitions in owned for p in partitions) == [0, 1, 2]
        await second.leave_consumer_group("groups", "t", "workers")
        group = await first.get_consumer_group("groups", "t", "workers")
        assert group.members_count == 1 and sorted(group.members[0].partitions) == [0, 1, 2]
        await first.leave_consumer_group("groups", "t", "workers")

        await first.delete_consumer_group("groups", "t", "workers")
        assert await first.get_consumer_group("groups", "t", "workers") is None
        assert await first.get_consumer_groups("groups", "t") == []

    run(scenario())


def test_high_level_consumer_group(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("hl")
        await client.create_topic("hl", "t", partitions_count=2)
        sent = {partition: [f"p{partition}-m{i}" for i in range(15)] for partition in range(2)}
        for partition, payloads in sent.items():
            await client.send_messages("hl", "t", partition, [SendMessage(text) for text in payloads])

        # The high-level consumer creates the group, joins it and polls with the group consumer.
        consumer = await bounded(client.consumer_group(
            "readers", "hl", "t", polling_strategy=PollingStrategy.Next(), batch_length=4,
            auto_commit=AutoCommit.When(AutoCommitWhen.PollingMessages()),
            poll_interval=datetime.timedelta(milliseconds=5)), 5, "consumer_group()")
        assert consumer.name() == "readers"
        received = []
        done = asyncio.Event()

        async def take(message):
            received.append((message.partition_id(), message.offset(), message.payload().decode()))
            if len(received) >= 30:
                done.set()

        await bounded(consumer.consume_messages(take, done), 10, "30 messages through consume_messages()")
        per_partition = {p: [(o, t) for q, o, t in received if q == p] for p in range(2)}
        for partition, payloads in sent.items():
            assert per_partition[partition] == list(enumerate(payloads))

        group = await client.get_consumer_group("hl", "t", "readers")
        assert group is not None and group.members_count == 1
        await client.leave_consumer_group("hl", "t", "readers")
        assert (await client.get_consumer_group("hl", "t", "readers")).members_count == 0

    run(scenario())


def test_errors_surface_as_exceptions(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("unique")
        with pytest.raises(RuntimeError):
            await client.create_stream("unique")
        await client.create_topic("unique", "t", partitions_count=1)
        with pytest.raises(RuntimeError):
            await client.create_topic("unique", "t", partitions_count=1)
        assert await client.get_stream("missing") is None
        assert await client.get_topic("unique", "missing") is None
        with pytest.raises(RuntimeError):
            await client.send_messages("unique", "missing", 0, [SendMessage("x")])
        with pytest.raises(RuntimeError):
            await poll(client, "missing", "t", Consumer.Single("c"), PollingStrategy.First(), partition=0)
        wrong = IggyClient.from_connection_string(f"iggy://iggy:wrong-password@{server.address}")
        with pytest.raises(RuntimeError):
            await bounded(wrong.connect(), 5, "connect with a wrong password")
            await bounded(wrong.get_streams(), 5, "a request after a failed login")

    run(scenario())
