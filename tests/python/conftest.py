"""Starts the real whippet-server on a free 127.0.0.1 port for the Python SDK tests.

Each test file targets one release of the Python SDK, and only one release can be installed in a
venv, so this file picks the test file that matches the installed `apache-iggy`:
`test_sdk_0_9.py` for 0.9.x (protocol 0.11, VSR framing) and `test_sdk_0_8.py` for 0.8.x (Rust SDK
0.10, legacy framing). `test_tls.py` runs with either. scripts/test.sh runs `pytest tests/python`
once in each of its two venvs.
"""

import asyncio
import importlib.metadata
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

_TEST_FILE_FOR_SDK = {"0.8": "test_sdk_0_8.py", "0.9": "test_sdk_0_9.py"}


def _installed_sdk() -> str | None:
    try:
        return importlib.metadata.version("apache-iggy")
    except importlib.metadata.PackageNotFoundError:
        return None


SDK_VERSION = _installed_sdk()
_wanted = _TEST_FILE_FOR_SDK.get(".".join((SDK_VERSION or "").split(".")[:2]))
collect_ignore = [name for name in _TEST_FILE_FOR_SDK.values() if name != _wanted]


def run(coroutine, timeout: float = 15):
    """Runs one test scenario on a fresh event loop, bounded so that a server that never answers
    fails the test instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def bounded(awaitable, seconds: float, what: str):
    """Awaits one SDK call with a deadline of its own and names the step that did not finish."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise AssertionError(f"no answer within {seconds} s: {what}") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, binary: pathlib.Path, shards: int = 2, args: tuple[str, ...] = ()):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="whippet-py-")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [str(binary), "--tcp-address", self.address, "--shards", str(shards), "--no-pin",
             "--data-dir", self.data_dir, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(20):
            self.process.kill()
            raise RuntimeError("whippet-server did not start:\n" + "\n".join(self.lines[-20:]))

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if "listening on" in line:
                self._ready.set()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(15) == 0, "\n".join(self.lines[-20:])


def server_binary() -> pathlib.Path:
    binary = pathlib.Path(os.environ.get("WHIPPET_SERVER_BIN", ROOT / "target" / "debug" / "whippet-server"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it with `cargo build --bin whippet-server`")
    return binary


@pytest.fixture(scope="module")
def server():
    """One server per test file: every test uses stream names of its own, so they share it."""
    started = Server(server_binary())
    yield started
    started.stop()
