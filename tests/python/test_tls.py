"""TLS with the Python SDK, in both venvs: apache-iggy 0.9 (protocol 0.11) and 0.8 (legacy framing)
connect with `tls=true` to a whippet-server started with `--tls-cert`/`--tls-key`, whose certificate
for `localhost` is signed by a CA made here with the `openssl` command. (Plain and untrusted clients
are refused in crates/server/tests/tls.rs; the SDKs take up to their own login timeout to notice.)"""

import pathlib
import shutil
import subprocess
import tempfile

import pytest
from apache_iggy import IggyClient, PollingStrategy, SendMessage
from conftest import SDK_VERSION, Server, bounded, run, server_binary


def _openssl(*args: str, cwd: pathlib.Path):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _certificates(directory: pathlib.Path):
    """ca.pem, and server.pem/server.key for `localhost` signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=whippet-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "server.ext", cwd=directory)


@pytest.fixture(scope="module")
def tls_server():
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed; it makes the test certificates")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="whippet-py-tls-"))
    _certificates(directory)
    started = Server(server_binary(), args=("--tls-cert", str(directory / "server.pem"),
                                            "--tls-key", str(directory / "server.key")))
    started.ca_file = directory / "ca.pem"
    yield started
    started.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _client(server, tls: str) -> IggyClient:
    return IggyClient.from_connection_string(
        f"iggy://iggy:iggy@{server.address}?reconnection_retries=1&reconnection_interval=200ms{tls}")


async def _poll(client, partition: int):
    if SDK_VERSION.startswith("0.8"):
        return await client.poll_messages("secure", "events", partition_id=partition,
                                          polling_strategy=PollingStrategy.First(), count=10, auto_commit=False)
    from apache_iggy import Consumer
    return await client.poll_messages("secure", "events", consumer=Consumer.Single("reader"),
                                      polling_strategy=PollingStrategy.First(), count=10, auto_commit=False,
                                      partition_id=partition)


def test_send_and_poll_over_tls(tls_server):
    async def scenario():
        client = _client(tls_server, f"&tls=true&tls_domain=localhost&tls_ca_file={tls_server.ca_file}")
        await bounded(client.connect(), 10, "TLS connect and log in")
        await client.ping()
        await client.create_stream("secure")
        await client.create_topic("secure", "events", partitions_count=1)
        await client.send_messages("secure", "events", 0, [SendMessage("one"), SendMessage("two")])
        polled = await bounded(_poll(client, 0), 10, "poll over TLS")
        assert [m.payload().decode() for m in polled] == ["one", "two"]

    run(scenario(), timeout=30)
