"""Scale-out (issue 18): three gateway processes on loopback share one PostgreSQL database and 30
cameras (24 looping files, 6 from a live RTSP server). Each camera is ingested by exactly one
node (the RTSP server sees one connection per RTSP camera; each node's /api/health lists only its
own cameras); a node killed with SIGKILL loses its cameras to the others within 10 s; a viewer
connected through a surviving node gets video again after the move; any node serves any request
(REST, HLS by 307 to the owner, /ws and Socket.IO relayed from the owner); a drained node gives
its cameras away; a rolling restart loses no camera for more than 10 s; a share revoked on one
node ends a stream served by another."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests
import websocket

from conftest import BINARY, USERS, bearer, login, make_clip, new_postgres_database, password
from live_servers import RTSPServer

NODES = ["n1", "n2", "n3"]
FILE_CAMERAS = 24
RTSP_CAMERAS = 6
SECRET = "cluster-secret-0123456789abcdef0123456789"


class Node:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.directory = os.path.join(cluster.directory, name)
        os.makedirs(self.directory, exist_ok=True)
        self.process = None
        self.base = None
        self.log = None

    def start(self):
        config = dict(self.cluster.config)
        config["cluster"] = {"node_id": self.name, "heartbeat_seconds": 0.5, "lease_seconds": 3}
        with open(os.path.join(self.directory, "plugins.json"), "w") as handle:
            json.dump(config, handle)
        self.log = open(os.path.join(self.directory, "gateway.log"), "a+")
        self.process = subprocess.Popen([BINARY, "serve", "--config", os.path.join(self.directory, "plugins.json")],
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while True:
            if self.process.poll() is not None or time.time() > deadline:
                self.process.kill()
                pytest.fail(f"node {self.name} did not start:\n{self.tail()}", pytrace=False)
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.tail(20000))
            if match and match.group(1) != "0":
                self.base = f"http://127.0.0.1:{match.group(1)}"
                return self
            time.sleep(0.05)

    def tail(self, size=4000):
        self.log.flush()
        self.log.seek(0)
        text = self.log.read()
        return text[-size:]

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout=30):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                pytest.fail(f"node {self.name} did not stop within {timeout} s of SIGTERM:\n{self.tail()}", pytrace=False)

    def health(self):
        """The cameras this node runs itself, with their states."""
        answer = requests.get(f"{self.base}/api/health", headers=bearer(self.cluster.admin_token(self)), timeout=10)
        assert answer.status_code == 200, answer.text
        return {camera["id"]: camera["state"] for camera in answer.json()["cameras"]}


class Cluster:
    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="gateway-cluster-")
        clip = make_clip(self.directory)
        self.rtsp = RTSPServer("--size", "320x180", "--fps", "10", "--bitrate", "200").start()
        cameras = [{"id": f"file{index:02d}", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                    "sinks": [{"type": "websocket"}, {"type": "hls", "segment_duration": 2, "part_duration": 0}]
                    + ([{"type": "clipper", "pre_seconds": 2, "post_seconds": 1}] if index < 4 else [])}
                   for index in range(FILE_CAMERAS)]
        cameras += [{"id": f"rtsp{index:02d}", "owner": "olivia", "source": {"type": "rtsp", "url": self.rtsp.url},
                     "sinks": [{"type": "websocket"}]} for index in range(RTSP_CAMERAS)]
        self.camera_ids = sorted(camera["id"] for camera in cameras)
        self.config = {
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
            "auth": {"jwt_secret": SECRET, "bcrypt_cost": 4},
            "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
            "storage": {"type": "postgres", "url": new_postgres_database(), "pool_size": 4},
            "cameras": cameras,
        }
        self.nodes = {name: Node(self, name) for name in NODES}
        self.tokens = {}

    def start(self):
        for node in self.nodes.values():
            node.start()
        return self

    def admin_token(self, node):
        if node.base not in self.tokens:
            self.tokens[node.base] = login(node.base, "admin")
        return self.tokens[node.base]

    def live(self):
        return [node for node in self.nodes.values() if node.alive()]

    def ownership(self, via=None):
        """Camera id → node id, from /api/cluster on `via` (a live node)."""
        via = via or self.live()[0]
        answer = requests.get(f"{via.base}/api/cluster", headers=bearer(self.admin_token(via)), timeout=10)
        assert answer.status_code == 200, answer.text
        owners = {}
        for node in answer.json()["nodes"]:
            for camera in node["cameras"]:
                assert camera not in owners, f"{camera} owned by {owners[camera]} and {node['id']}"
                owners[camera] = node["id"]
        return owners

    def wait_for_all_online(self, timeout, nodes=None, balanced=0):
        """Waits until every camera runs on exactly one of `nodes` and is online there (and each
        node runs at least `balanced`); returns {camera: node} and the seconds it took."""
        started = time.monotonic()
        last = None
        while time.monotonic() - started < timeout:
            running = {}
            double = []
            for node in (nodes or self.live()):
                try:
                    for camera, state in node.health().items():
                        if camera in running:
                            double.append(camera)
                        running[camera] = (node.name, state)
                except requests.RequestException:
                    pass
            if double:
                # Read one node after the other, a camera may move between the reads: ask both again.
                again = [node.health() for node in (nodes or self.live())]
                still = [camera for camera in double if sum(1 for cameras in again if camera in cameras) > 1]
                assert not still, f"cameras ingested twice: {still}"
                continue
            last = running
            per_node = [sum(1 for owner, _ in running.values() if owner == node.name) for node in (nodes or self.live())]
            if sorted(running) == self.camera_ids and all(state == "online" for _, state in running.values()) \
                    and min(per_node) >= balanced:
                return {camera: owner for camera, (owner, _) in running.items()}, time.monotonic() - started
            time.sleep(0.2)
        missing = sorted(set(self.camera_ids) - set(last or {}))
        offline = {camera: value for camera, value in (last or {}).items() if value[1] != "online"}
        per_node = {node.name: sum(1 for owner, _ in (last or {}).values() if owner == node.name) for node in (nodes or self.live())}
        rtsp = "running" if self.rtsp.process.poll() is None else f"exited {self.rtsp.process.returncode}"
        pytest.fail(f"not every camera online within {timeout} s: missing {missing}, not online {offline}, per node {per_node};"
                    f" the RTSP server is {rtsp}", pytrace=False)

    def rtsp_connections(self):
        """Established TCP connections to the RTSP server: one per RTSP camera being ingested."""
        output = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{self.rtsp.port} )"],
                                capture_output=True, text=True, check=True).stdout
        return len([line for line in output.splitlines() if line.strip()])

    def close(self):
        for node in self.nodes.values():
            if node.alive():
                node.process.kill()
                node.process.wait(timeout=10)
        self.rtsp.stop()


@pytest.fixture(scope="module")
def cluster():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: run `swift build` first", pytrace=False)
    cluster = Cluster().start()
    yield cluster
    cluster.close()


def test_every_camera_is_ingested_by_exactly_one_node(cluster):
    owners, took = cluster.wait_for_all_online(60, balanced=4)
    print(f"30 cameras online and spread over 3 nodes {took:.1f} s after the start")
    counts = {name: list(owners.values()).count(name) for name in NODES}
    assert all(count >= 4 for count in counts.values()), f"unbalanced: {counts}"
    assert cluster.ownership() == owners
    for node in cluster.live():
        assert cluster.ownership(via=node) == owners, f"/api/cluster on {node.name} disagrees"
    # The RTSP server sees each RTSP camera once, for as long as we look.
    for _ in range(10):
        assert cluster.rtsp_connections() == RTSP_CAMERAS
        time.sleep(0.3)
    answer = requests.get(f"{cluster.nodes['n1'].base}/api/cluster", headers=bearer(cluster.admin_token(cluster.nodes['n1'])), timeout=10).json()
    assert answer["node"] == "n1"
    assert [node["id"] for node in answer["nodes"]] == NODES
    for node in answer["nodes"]:
        assert node["url"] == cluster.nodes[node["id"]].base
        assert node["heartbeat_age_seconds"] < 3
        assert node["draining"] is False


def owned_by(owners, node, prefix="file"):
    return sorted(camera for camera, owner in owners.items() if owner == node and camera.startswith(prefix))


def stream_token(base, token, camera):
    answer = requests.post(f"{base}/api/cameras/{camera}/stream/token", headers=bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def read_fragments(base, camera, token, count=3, timeout=15):
    """Connects to /ws/cameras/{camera} on `base`; returns the kinds of the first frames: the init
    text frame, the init segment and `count` fragments. Raises on a close before that."""
    ws = websocket.create_connection(f"{base.replace('http', 'ws')}/ws/cameras/{camera}?token={token}", timeout=timeout)
    try:
        first = json.loads(ws.recv())
        assert first["type"] == "init", first
        assert isinstance(ws.recv(), bytes)
        for _ in range(count):
            frame = ws.recv()
            assert isinstance(frame, bytes) and frame[4:8] in (b"moof", b"styp"), frame[:16]
        return first
    finally:
        ws.close()


def test_any_node_serves_any_camera(cluster):
    owners, _ = cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    camera = owned_by(owners, "n1")[0]
    olivia = {node.name: login(node.base, "olivia") for node in (n1, n2, n3)}

    # REST on a node that does not run the camera: its state as the owner reports it.
    answer = requests.get(f"{n2.base}/api/cameras/{camera}", headers=bearer(olivia["n2"]), timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "online", answer.text
    admin_view = requests.get(f"{n2.base}/api/cameras/{camera}", headers=bearer(cluster.admin_token(n2)), timeout=10).json()
    assert admin_view["node"] == "n1"

    # HLS: the stream starts on the owner; the playlist's URL on n2 redirects (307) to n1.
    started = requests.post(f"{n2.base}/api/cameras/{camera}/stream/start", headers=bearer(olivia["n2"]), timeout=10)
    assert started.status_code == 200, started.text
    url = started.json()["streamUrl"]
    assert url.startswith("/hls/"), url
    deadline = time.time() + 20
    while True:
        redirect = requests.get(f"{n2.base}{url}", allow_redirects=False, timeout=10)
        if redirect.status_code == 307 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert redirect.status_code == 307, redirect.text
    assert redirect.headers["Location"] == f"{n1.base}{url}"
    # ffprobe, an HLS player, follows the redirect and reads the video.
    probe = None
    while time.time() < deadline:
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width",
                                "-of", "json", f"{n2.base}{url}"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and json.loads(probe.stdout).get("streams"):
            break
        time.sleep(1)
    assert json.loads(probe.stdout)["streams"][0]["codec_name"] == "h264", probe.stderr
    # Without a valid token the non-owner refuses as the owner would, and redirects nothing.
    refused = requests.get(f"{n2.base}/hls/{camera}/index.m3u8?token=forged", allow_redirects=False, timeout=10)
    assert refused.status_code == 401

    # Live fMP4 over /ws through each node: relayed from the owner.
    for node in (n2, n3, n1):
        token = stream_token(node.base, olivia[node.name], camera)
        first = read_fragments(node.base, camera, token)
        assert first["codecs"].startswith("avc1"), first

    # Socket.IO `watch` on a node that does not run the camera.
    import socketio
    client = socketio.Client(reconnection=False)
    got = {"init": 0, "fragments": 0}
    done = threading.Event()

    @client.on("video:init")
    def on_init(data):
        got["init"] += 1

    @client.on("video:fragment")
    def on_fragment(data):
        got["fragments"] += 1
        if got["fragments"] >= 3:
            done.set()

    client.connect(n3.base, auth={"token": olivia["n3"]}, transports=["websocket"], wait_timeout=10)
    try:
        answer = client.call("watch", {"cameraId": camera}, timeout=10)
        assert answer["success"] is True, answer
        assert done.wait(15), got
        assert got["init"] == 1
    finally:
        client.disconnect()

    # A clip asked of n3 is written by the owner, and listed and played on every node.
    clip_camera = next(camera for camera in cluster.camera_ids if camera in ("file00", "file01", "file02", "file03")
                       and owners[camera] != "n3")
    triggered = requests.post(f"{n3.base}/api/cameras/{clip_camera}/clips", headers=bearer(olivia["n3"]),
                              json={"pre_seconds": 1, "post_seconds": 1, "label": "cluster"}, timeout=15)
    assert triggered.status_code == 202, triggered.text
    clip_id = triggered.json()["clip"]["id"]
    deadline = time.time() + 20
    while time.time() < deadline:
        video = requests.get(f"{n2.base}/api/videos/{clip_id}", headers=bearer(olivia["n2"]), timeout=10).json()
        if video["status"] == "ready":
            break
        time.sleep(0.5)
    assert video["status"] == "ready", video
    for node in (n1, n2, n3):
        download = requests.get(f"{node.base}/api/videos/{clip_id}/stream", headers=bearer(olivia[node.name]), timeout=15)
        assert download.status_code == 200 and len(download.content) > 1000, (node.name, download.status_code)
