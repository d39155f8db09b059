"""Starts the real whippet-server on a free 127.0.0.1 port for the Python SDK tests."""

import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, binary: pathlib.Path, shards: int = 2):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="whippet-py-")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [str(binary), "--tcp-address", self.address, "--shards", str(shards), "--no-pin",
             "--data-dir", self.data_dir],
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


@pytest.fixture
def server():
    binary = pathlib.Path(os.environ.get("WHIPPET_SERVER_BIN", ROOT / "target" / "debug" / "whippet-server"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it with `cargo build --bin whippet-server`")
    started = Server(binary)
    yield started
    started.stop()
