"""Starts `socketio-conformance-server` (built by `swift build`) on 127.0.0.1:3000 for the
Engine.IO v4 / Socket.IO v5 conformance tests, written from both protocol specifications."""
import os
import socket
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("CONFORMANCE_SERVER", os.path.join(ROOT, ".build", "debug", "socketio-conformance-server"))


def _port_open(port):
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session", autouse=True)
def conformance_server():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: run `swift build` first", pytrace=False)
    if _port_open(3000):
        pytest.fail("port 3000 is already taken; the conformance server needs it", pytrace=False)
    process = subprocess.Popen([BINARY], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while not _port_open(3000):
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail("socketio-conformance-server did not start: " + process.stderr.read().decode(errors="replace"), pytrace=False)
        time.sleep(0.05)
    yield
    process.terminate()
    process.wait(timeout=10)
