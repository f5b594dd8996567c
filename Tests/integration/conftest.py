"""Runs the real `gateway` binary (built by `swift build`) on a free loopback port with a
plugins.json of its own: users with known passwords and a file camera made by ffmpeg."""
import json
import os
import re
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("GATEWAY_BINARY", os.path.join(ROOT, ".build", "debug", "gateway"))
USERS = ["admin", "olivia", "victor", "oscar", "sam"]


def password(user):
    return f"password-{user}"


class Gateway:
    def __init__(self, base, log_path):
        self.base = base
        self.log_path = log_path

    def events(self):
        path = os.path.join(os.path.dirname(self.log_path), "data", "events.jsonl")
        with open(path) as handle:
            return [json.loads(line) for line in handle.read().splitlines()]

    def login(self, user):
        response = requests.post(f"{self.base}/api/auth/login", json={"username": user, "password": password(user)}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["token"]


def login(base, user):
    """The token of `user` (password `password-<user>`) on the gateway at `base`."""
    response = requests.post(f"{base}/api/auth/login", json={"username": user, "password": password(user)}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def chromium():
    """Headless Chromium driven by Selenium, able to autoplay media; a browser that cannot start is
    a failure, never a skip. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(argument)
    try:
        return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    except Exception as error:
        pytest.fail(f"headless Chromium did not start: {error}", pytrace=False)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def make_clip(directory):
    clip = os.path.join(directory, "clip.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                    "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", clip], check=True)
    return clip


def new_postgres_database():
    """The URL of a new, empty database on the test PostgreSQL server (scripts/test-servers.sh)."""
    base = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("GATEWAY_TEST_POSTGRES_URL is not set: run `scripts/test-servers.sh start && source .test-servers/env`"
                    " (make test does)", pytrace=False)
    name = "it_" + os.urandom(8).hex()
    subprocess.run(["psql", base, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"], check=True,
                   stdout=subprocess.DEVNULL)
    return base.replace("/postgres?", f"/{name}?")


_storage_by_directory = {}


def storage_for_tests(directory):
    """The storage of every gateway these tests start: SQLite (the default), or the backend named
    by GATEWAY_TEST_STORAGE (`postgres`, `mongodb`), with a database per gateway directory (a gateway
    restarted on the same directory finds its data again, as with SQLite)."""
    kind = os.environ.get("GATEWAY_TEST_STORAGE", "sqlite")
    if kind == "sqlite":
        return None
    if directory not in _storage_by_directory:
        if kind == "postgres":
            _storage_by_directory[directory] = {"type": "postgres", "url": new_postgres_database()}
        elif kind == "mongodb":
            uri = os.environ.get("GATEWAY_TEST_MONGODB_URI")
            if not uri:
                pytest.fail("GATEWAY_TEST_MONGODB_URI is not set: run `scripts/test-servers.sh start && source .test-servers/env`",
                            pytrace=False)
            _storage_by_directory[directory] = {"type": "mongodb", "uri": uri, "database": "it_" + os.urandom(8).hex()}
        else:
            pytest.fail(f"GATEWAY_TEST_STORAGE={kind} is not a storage backend", pytrace=False)
    return _storage_by_directory[directory]


def launch(directory, config, stdout=subprocess.DEVNULL):
    """Starts `gateway serve` on `config`; returns (process, base URL, log file). `stdout` takes
    what the gateway prints there (generated passwords)."""
    if "storage" not in config and (storage := storage_for_tests(os.path.realpath(directory))):
        config = {**config, "storage": storage}
    if "cache" not in config and os.environ.get("GATEWAY_TEST_CACHE") == "redis":
        url = os.environ.get("GATEWAY_TEST_REDIS_URL")
        if not url:
            pytest.fail("GATEWAY_TEST_REDIS_URL is not set: run `scripts/test-servers.sh start && source .test-servers/env`", pytrace=False)
        config = {**config, "cache": {"type": "redis", "url": url}}
    with open(os.path.join(directory, "plugins.json"), "w") as handle:
        json.dump(config, handle)
    log = open(os.path.join(directory, "gateway.log"), "w+")
    process = subprocess.Popen([BINARY, "serve", "--config", os.path.join(directory, "plugins.json")],
                               stdout=stdout, stderr=log)
    deadline = time.time() + 30
    while True:
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            log.seek(0)
            pytest.fail("the gateway did not start:\n" + log.read(), pytrace=False)
        log.seek(0)
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}", log
        time.sleep(0.05)


def stop(process, log):
    """Stops a gateway `launch` started: SIGTERM, then SIGKILL if it is still there after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def gateway():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: run `swift build` first", pytrace=False)
    directory = tempfile.mkdtemp(prefix="gateway-it-")
    clip = make_clip(directory)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4, "stream_token_ttl_seconds": 5},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
        "cameras": [{"id": "lobby", "name": "Lobby", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "websocket"}]},
                    {"id": "strict", "name": "Strict", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "websocket", "viewer_max_buffer_bytes": 4096, "viewer_stall_seconds": 1}]},
                    {"id": "hlscam", "name": "LL-HLS", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "hls", "segment_duration": 2, "part_duration": 0.2, "idle_timeout": 3}]},
                    {"id": "hlsplain", "name": "HLS", "owner": "oscar", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "hls", "segment_duration": 2, "part_duration": 0, "idle_timeout": 3}]},
                    {"id": "clipcam", "name": "Clips", "owner": "oscar", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "clipper", "pre_seconds": 2, "post_seconds": 1}]},
                    {"id": "reccam", "name": "Recorded", "owner": "oscar", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "recorder", "segment_duration": 2, "part_duration": 0.5, "max_bytes": 600000}]}],
    }
    process, base, log = launch(directory, config)
    yield Gateway(base, log.name)
    process.terminate()
    started = time.time()
    try:
        process.wait(timeout=30)
    finally:
        log.seek(0)
        tail = log.read()[-3000:]
        log.close()
        if process.poll() is None:
            process.kill()
            pytest.fail(f"the gateway did not stop within 30 s of SIGTERM:\n{tail}", pytrace=False)
    print(f"gateway stopped {time.time() - started:.1f} s after SIGTERM")


SERVERS = os.path.join(ROOT, "scripts", "test-servers.sh")


class OwnServer:
    """A server of one test's own (scripts/test-servers.sh KIND DIR), which it may stop (`down`)
    and start again on the same port (`up`)."""

    def __init__(self, kind, variable):
        self.kind = kind
        self.directory = tempfile.mkdtemp(prefix=f"gateway-{kind}-")
        started = subprocess.run([SERVERS, kind, self.directory], capture_output=True, text=True)
        if started.returncode != 0:
            pytest.fail(f"{kind} did not start:\n{started.stderr}", pytrace=False)
        self.url = re.search(rf"{variable}=(\S+)", started.stdout).group(1)

    def down(self):
        subprocess.run([SERVERS, f"{self.kind}-down", self.directory], check=True, capture_output=True)

    def up(self):
        result = subprocess.run([SERVERS, f"{self.kind}-up", self.directory], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@pytest.fixture
def own_postgres():
    server = OwnServer("postgres", "GATEWAY_TEST_POSTGRES_URL")
    yield server.directory, server.url
    subprocess.run([SERVERS, "postgres-down", server.directory], capture_output=True)


@pytest.fixture
def own_broker():
    """A Mosquitto broker of the test's own."""
    server = OwnServer("mosquitto", "GATEWAY_TEST_MQTT_URL")
    yield server
    subprocess.run([SERVERS, "mosquitto-down", server.directory], capture_output=True)
