"""Real camera servers for the live-source tests: GStreamer's RTSP server (Debian's
/usr/bin/python3 with the gi bindings) and HTTP cameras served by `ffmpeg -listen 1`, which
serves one client and exits, so it runs in a loop. A server that cannot start fails the test."""
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RTSP_SERVER = os.path.join(ROOT, "Tests", "servers", "rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, what, timeout=15, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}", pytrace=False)
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on {port} within {timeout} s", pytrace=False)


class RTSPServer:
    """One GStreamer RTSP server: `start()`, `kill()`, `pause()`/`resume()` (SIGSTOP/SIGCONT)."""

    def __init__(self, *arguments, port=None, host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        self.arguments = list(arguments)
        self.process = None

    @property
    def url(self):
        return f"rtsp://{self.host}:{self.port}/cam"

    def start(self):
        if not os.path.exists(SYSTEM_PYTHON):
            pytest.fail("/usr/bin/python3 is missing: run scripts/install-deps.sh", pytrace=False)
        self.process = subprocess.Popen([SYSTEM_PYTHON, RTSP_SERVER, "--port", str(self.port), "--address", self.host, *self.arguments],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.process.kill()
            pytest.fail(f"the RTSP server did not start: {line}{self.process.stderr.read()}", pytrace=False)
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class HTTPCamera:
    """`ffmpeg ... -listen 1 http://127.0.0.1:PORT/PATH`, restarted after each client."""

    def __init__(self, input_arguments, output_arguments, path, host="127.0.0.1"):
        self.port = free_port()
        self.host = host
        self.url = f"http://{host}:{self.port}/{path}"
        command = " ".join(["ffmpeg", "-hide_banner", "-loglevel", "error", *input_arguments, *output_arguments, "-listen", "1", self.url])
        self.script = f"while true; do {command}; sleep 0.05; done"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["bash", "-c", self.script], start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.process, f"ffmpeg -listen on {self.url}", host=self.host)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
