"""The Python SDK apache-iggy 0.9.0 (protocol 0.11) against whippet-server."""

import asyncio

import pytest
from apache_iggy import Consumer, IggyClient, PollingStrategy, SendMessage


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def connected(server) -> IggyClient:
    client = IggyClient.from_connection_string(f"iggy://iggy:iggy@{server.address}")
    await client.connect()
    return client


def test_send_and_poll_every_partition(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("orders")
        await client.create_topic("orders", "events", partitions_count=4)
        sent = {partition: [f"p{partition}-m{i}" for i in range(50)] for partition in range(4)}
        for partition, payloads in sent.items():
            for start in range(0, len(payloads), 10):
                batch = [SendMessage(text) for text in payloads[start:start + 10]]
                await client.send_messages("orders", "events", partition, batch)
        for partition, payloads in sent.items():
            polled = await client.poll_messages(
                "orders", "events", consumer=Consumer.Single("reader"), polling_strategy=PollingStrategy.Offset(0),
                count=1000, auto_commit=False, partition_id=partition)
            assert [m.offset() for m in polled] == list(range(len(payloads)))
            assert [m.payload().decode() for m in polled] == payloads
            assert all(m.partition_id() == partition for m in polled)

    run(scenario())


def test_auto_commit_and_stored_offsets(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("s")
        await client.create_topic("s", "t", partitions_count=1)
        await client.send_messages("s", "t", 0, [SendMessage(f"m{i}") for i in range(20)])
        consumer = Consumer.Single("worker")
        first = await client.poll_messages(
            "s", "t", consumer=consumer, polling_strategy=PollingStrategy.Next(), count=7, auto_commit=True,
            partition_id=0)
        assert [m.offset() for m in first] == list(range(7))
        second = await client.poll_messages(
            "s", "t", consumer=consumer, polling_strategy=PollingStrategy.Next(), count=100, auto_commit=True,
            partition_id=0)
        assert [m.offset() for m in second] == list(range(7, 20))
        again = await client.poll_messages(
            "s", "t", consumer=consumer, polling_strategy=PollingStrategy.Next(), count=100, auto_commit=True,
            partition_id=0)
        assert again == []
        last = await client.poll_messages(
            "s", "t", consumer=consumer, polling_strategy=PollingStrategy.Last(), count=3, auto_commit=False,
            partition_id=0)
        assert [m.payload().decode() for m in last] == ["m17", "m18", "m19"]

    run(scenario())


def test_errors_surface_as_exceptions(server):
    async def scenario():
        client = await connected(server)
        await client.create_stream("unique")
        with pytest.raises(RuntimeError):
            await client.create_stream("unique")
        assert await client.get_stream("missing") is None
        wrong = IggyClient.from_connection_string(f"iggy://iggy:wrong-password@{server.address}")
        with pytest.raises(RuntimeError):
            await wrong.connect()
            await wrong.get_streams()

    run(scenario())
