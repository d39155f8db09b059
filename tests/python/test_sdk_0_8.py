"""The Python SDK apache-iggy 0.8.0 (Rust SDK iggy 0.10.0 inside, legacy framing: length + code
requests, status + length replies) against whippet-server. All tests share one server
(conftest.py), so each uses stream names of its own.

The 0.8 API is smaller than 0.9's: `poll_messages` takes the partition positionally and always
polls as the SDK's default consumer (kind 1, `Consumer::default()`), there is no typed
consumer-offset or consumer-group call on the client, and groups are reached only through the
high-level `consumer_group()` consumer, which creates and joins the group itself and cannot leave
it."""

import asyncio
import datetime

import pytest
from apache_iggy import AutoCommit, AutoCommitWhen, IggyClient, PollingStrategy, SendMessage
from conftest import bounded, run


async def connected(server, password: str = "iggy") -> IggyClient:
    client = IggyClient.from_connection_string(f"iggy://iggy:{password}@{server.address}")
    await bounded(client.connect(), 5, "connect and log in (legacy LOGIN_USER)")
    return client


async def poll(client, stream, topic, partition, strategy, count=1000, auto_commit=False):
    return await client.poll_messages(
        stream, topic, partition_id=partition, polling_strategy=strategy, count=count, auto_commit=auto_commit)


def texts(messages):
    return [m.payload().decode() for m in messages]


async def group_consumer(client, group, stream, topic, auto_commit=None):
    return await bounded(client.consumer_group(
        group, stream, topic, polling_strategy=PollingStrategy.Next(), batch_length=4,
        auto_commit=auto_commit or AutoCommit.When(AutoCommitWhen.PollingMessages()),
        poll_interval=datetime.timedelta(milliseconds=5),
        polling_retry_interval=datetime.timedelta(milliseconds=100),
        init_retries=2, init_retry_interval=datetime.timedelta(milliseconds=200)), 5, f"consumer_group({group})")


async def consume(consumers, want: int, settle: float = 0.5, limit: float = 8):
    """Runs consume_messages on every consumer at once until `want` messages came in overall, then
    keeps going for `settle` seconds to catch any extra delivery. Returns one list per consumer of
    (partition, offset, payload)."""
    received = [[] for _ in consumers]
    enough = asyncio.Event()
    stop = asyncio.Event()

    def callback(index):
        async def take(message):
            received[index].append((message.partition_id(), message.offset(), message.payload().decode()))
            if sum(len(r) for r in received) >= want:
                enough.set()
        return take

    async def stop_after_settle():
        await enough.wait()
        await asyncio.sleep(settle)
        stop.set()

    stopper = asyncio.ensure_future(stop_after_settle())
    try:
        await bounded(asyncio.gather(*(c.consume_messages(callback(i), stop) for i, c in enumerate(consumers))),
                      limit, f"{want} messages through consume_messages()")
    finally:
        stop.set()
        stopper.cancel()
    return received


def test_send_and_poll_every_partition(server):
    async def scenario():
        client = await connected(server)
        await client.ping()
        await client.create_stream("orders")
        await client.create_topic("orders", "events", partitions_count=4)
        stream = await client.get_stream("orders")
        assert stream.name == "orders" and stream.topics_count == 1
        topic = await client.get_topic("orders", "events")
        assert topic.name == "events" and topic.partitions_count == 4
        sent = {partition: [f"p{partition}-m{i}" for i in range(50)] for partition in range(4)}
        for partition, payloads in sent.items():
            for start in range(0, len(payloads), 10):
                await client.send_messages(
                    "orders", "events", partition, [SendMessage(text) for text in payloads[start:start + 10]])
        for partition, payloads in sent.items():
            polled = await poll(client, "orders", "events", partition, PollingStrategy.Offset(0))
            assert [m.offset() for m in polled] == list(range(len(payloads)))
            assert texts(polled) == payloads
            assert all(m.partition_id() == partition for m in polled)
            assert len({m.id() for m in polled}) == len(payloads), "the legacy server assigns message ids"
            assert all(m.length() == len(m.payload()) for m in polled)
            middle = await poll(client, "orders", "events", partition, PollingStrategy.Offset(20), count=5)
            assert texts(middle) == payloads[20:25]
            first = await poll(client, "orders", "events", partition, PollingStrategy.First(), count=2)
            assert texts(first) == payloads[:2]
            last = await poll(client, "orders", "events", partition, PollingStrategy.Last(), count=2)
            assert texts(last) == payloads[-2:]
        assert (await client.get_topic("orders", "events")).messages_count == 200

    run(scenario())


def test_auto_commit_offsets(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("offsets")
        await client.create_topic("offsets", "t", partitions_count=2)
        for partition in range(2):
            await client.send_messages(
                "offsets", "t", partition, [SendMessage(f"p{partition}-m{i}") for i in range(20)])

        # Auto-commit through Next (the SDK's default consumer): each poll continues after the last
        # message the previous one returned.
        first = await poll(client, "offsets", "t", 0, PollingStrategy.Next(), count=7, auto_commit=True)
        assert [m.offset() for m in first] == list(range(7))
        second = await poll(client, "offsets", "t", 0, PollingStrategy.Next(), count=100, auto_commit=True)
        assert [m.offset() for m in second] == list(range(7, 20))
        assert await poll(client, "offsets", "t", 0, PollingStrategy.Next(), count=100, auto_commit=True) == []

        # Polls without auto-commit leave the stored offset alone.
        peek = await poll(client, "offsets", "t", 1, PollingStrategy.Next(), count=5)
        assert [m.offset() for m in peek] == list(range(5))
        assert [m.offset() for m in await poll(client, "offsets", "t", 1, PollingStrategy.Next(), count=5)] == \
            list(range(5))
        # Offsets are per partition.
        resumed = await poll(client, "offsets", "t", 1, PollingStrategy.Next(), count=4, auto_commit=True)
        assert texts(resumed) == ["p1-m0", "p1-m1", "p1-m2", "p1-m3"]

        # The stored offsets live on the server: a second connection sees them.
        fresh = await connected(server)
        assert await poll(fresh, "offsets", "t", 0, PollingStrategy.Next(), auto_commit=True) == []
        rest = await poll(fresh, "offsets", "t", 1, PollingStrategy.Next(), auto_commit=True)
        assert [m.offset() for m in rest] == list(range(4, 20))

    run(scenario())


def test_consumer_group_offsets_and_members(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("groups")
        await client.create_topic("groups", "t", partitions_count=3)
        for partition in range(3):
            await client.send_messages(
                "groups", "t", partition, [SendMessage(f"p{partition}-m{i}") for i in range(10)])

        # consumer_group() creates the group and joins it (CREATE/JOIN_CONSUMER_GROUP); the one member
        # polls without a partition, so the server hands it its partitions in turn.
        first = await group_consumer(client, "workers", "groups", "t")
        assert (first.name(), first.stream(), first.topic()) == ("workers", "groups", "t")
        [received] = await consume([first], want=30)
        assert sorted(received) == [(p, offset, f"p{p}-m{offset}") for p in range(3) for offset in range(10)]
        for partition in range(3):
            in_order = [offset for p, offset, _ in received if p == partition]
            assert in_order == list(range(10))
            assert first.get_last_consumed_offset(partition) == 9

        # An explicitly stored group offset moves Next forward: of five new messages on partition 0,
        # only those after offset 12 arrive.
        await client.send_messages("groups", "t", 0, [SendMessage(f"p0-m{offset}") for offset in range(10, 15)])
        await first.store_offset(12, 0)
        [received] = await consume([first], want=2)
        assert received == [(0, 13, "p0-m13"), (0, 14, "p0-m14")]

        # A second member on another connection joins the same group: the partitions are split
        # between the two, the group's offsets are shared, and each new message reaches one member.
        other = await connected(server)
        second = await group_consumer(other, "workers", "groups", "t")
        for partition in range(3):
            await client.send_messages("groups", "t", partition, [SendMessage(f"p{partition}-new")])
        by_first, by_second = await consume([first, second], want=3)
        assert sorted(by_first + by_second) == [(0, 15, "p0-new"), (1, 10, "p1-new"), (2, 10, "p2-new")]
        assert by_first and by_second, "both members of the group own a partition"

    run(scenario(), timeout=19)


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
            await poll(client, "missing", "t", 0, PollingStrategy.First())
        wrong = IggyClient.from_connection_string(f"iggy://iggy:wrong-password@{server.address}")
        with pytest.raises(RuntimeError):
            await bounded(wrong.connect(), 5, "connect with a wrong password")
            await bounded(wrong.get_stream("unique"), 5, "a request after a failed login")

    run(scenario())
