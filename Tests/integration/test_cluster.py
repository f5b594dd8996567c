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
        self.log.seek(0, os.SEEK_END)
        offset = self.log.tell()
        self.process = subprocess.Popen([BINARY, "serve", "--config", os.path.join(self.directory, "plugins.json")],
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while True:
            if self.process.poll() is not None or time.time() > deadline:
                self.process.kill()
                pytest.fail(f"node {self.name} did not start:\n{self.tail()}", pytrace=False)
            self.log.seek(offset)
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log.read())
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
        # One RTSP server per RTSP camera: each sees exactly the connections made to its camera.
        self.rtsp = [RTSPServer("--size", "320x180", "--fps", "10", "--bitrate", "150").start() for _ in range(RTSP_CAMERAS)]
        cameras = [{"id": f"file{index:02d}", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                    "sinks": [{"type": "websocket"}, {"type": "hls", "segment_duration": 2, "part_duration": 0}]
                    + ([{"type": "clipper", "pre_seconds": 2, "post_seconds": 1}] if index < 4 else [])}
                   for index in range(FILE_CAMERAS)]
        cameras += [{"id": f"rtsp{index:02d}", "owner": "olivia", "source": {"type": "rtsp", "url": server.url},
                     "sinks": [{"type": "websocket"}]} for index, server in enumerate(self.rtsp)]
        self.camera_ids = sorted(camera["id"] for camera in cameras)
        self.config = {
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
            "auth": {"jwt_secret": SECRET, "bcrypt_cost": 4},
            "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
            "storage": {"type": "postgres", "url": new_postgres_database(), "pool_size": 4},
            "cameras": cameras,
        }
        # The nodes share the Redis cache too, when the test servers have one (make test starts it).
        if os.environ.get("GATEWAY_TEST_REDIS_URL"):
            self.config["cache"] = {"type": "redis", "url": os.environ["GATEWAY_TEST_REDIS_URL"]}
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
            if os.environ.get("CLUSTER_DEBUG"):
                print(f"{time.monotonic() - started:.2f}", sorted(set(self.camera_ids) - set(running)),
                      {camera: value for camera, value in running.items() if value[1] != "online"})
            per_node = [sum(1 for owner, _ in running.values() if owner == node.name) for node in (nodes or self.live())]
            if sorted(running) == self.camera_ids and all(state == "online" for _, state in running.values()) \
                    and min(per_node) >= balanced:
                return {camera: owner for camera, (owner, _) in running.items()}, time.monotonic() - started
            time.sleep(0.2)
        missing = sorted(set(self.camera_ids) - set(last or {}))
        offline = {camera: value for camera, value in (last or {}).items() if value[1] != "online"}
        per_node = {node.name: sum(1 for owner, _ in (last or {}).values() if owner == node.name) for node in (nodes or self.live())}
        rtsp = ["running" if server.process.poll() is None else f"exited {server.process.returncode}" for server in self.rtsp]
        pytest.fail(f"not every camera online within {timeout} s: missing {missing}, not online {offline}, per node {per_node};"
                    f" the RTSP servers: {rtsp}", pytrace=False)

    def rtsp_connections(self):
        """Established TCP connections to each RTSP camera's server: 1 each when every RTSP camera
        is ingested exactly once."""
        counts = []
        for server in self.rtsp:
            output = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{server.port} )"],
                                    capture_output=True, text=True, check=True).stdout
            counts.append(len([line for line in output.splitlines() if line.strip()]))
        return counts

    def close(self):
        for node in self.nodes.values():
            if node.alive():
                node.process.kill()
                node.process.wait(timeout=10)
        for server in self.rtsp:
            server.stop()


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
        assert cluster.rtsp_connections() == [1] * RTSP_CAMERAS
        time.sleep(0.3)
    answer = requests.get(f"{cluster.nodes['n1'].base}/api/cluster", headers=bearer(cluster.admin_token(cluster.nodes['n1'])), timeout=10).json()
    assert answer["node"] == "n1"
    assert [node["id"] for node in answer["nodes"]] == NODES
    for node in answer["nodes"]:
        assert node["url"] == cluster.nodes[node["id"]].base
        assert node["heartbeat_age_seconds"] < 3
        assert node["draining"] is False


def hls_numbers(url, timeout):
    """Reloads the playlist at `url` (following redirects) until it lists a segment; returns the
    node that answered, its media sequence, discontinuity sequence and segment count."""
    deadline = time.time() + timeout
    while True:
        try:
            answer = requests.get(url, timeout=10)
            if answer.status_code == 200 and "#EXTINF" in answer.text:
                text = answer.text
                discontinuity = re.search(r"#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)", text)
                return {"node": re.match(r"https?://[^/]+", answer.url).group(0),
                        "sequence": int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)),
                        "discontinuity": int(discontinuity.group(1)) if discontinuity else 0,
                        "segments": text.count("#EXTINF")}
        except requests.RequestException:
            pass
        assert time.time() < deadline, f"no playlist with a segment at {url} within {timeout} s"
        time.sleep(0.5)


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
    location = redirect.headers["Location"]
    assert location.startswith(f"{n1.base}{url.split('?')[0]}?token="), location
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
    from socketio_client import InOrderClient
    client = InOrderClient(reconnection=False)
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


def test_a_share_revoked_on_one_node_ends_the_stream_served_by_another(cluster):
    owners, _ = cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    camera = owned_by(owners, "n2")[0]
    olivia = login(n1.base, "olivia")
    shared = requests.post(f"{n1.base}/api/cameras/{camera}/shares", headers=bearer(olivia), json={"username": "victor", "role": "viewer"},
                           timeout=10)
    assert shared.status_code in (200, 201), shared.text
    victor = login(n3.base, "victor")
    token = stream_token(n3.base, victor, camera)
    ws = websocket.create_connection(f"{n3.base.replace('http', 'ws')}/ws/cameras/{camera}?token={token}", timeout=15)
    try:
        assert json.loads(ws.recv())["type"] == "init"
        revoked = requests.delete(f"{n1.base}/api/cameras/{camera}/shares/victor", headers=bearer(olivia), timeout=10)
        assert revoked.status_code == 204, revoked.text
        started = time.monotonic()
        code = None
        while time.monotonic() - started < 10:
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketConnectionClosedException:
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big")
                break
        took = time.monotonic() - started
    finally:
        ws.close()
    print(f"stream on n3 ended {took:.2f} s after the share was revoked on n1")
    assert code == 4403, code
    assert took < 3
    # And victor cannot open it again on any node.
    for node in (n1, n2, n3):
        again = requests.get(f"{node.base}/api/cameras/{camera}", headers=bearer(login(node.base, "victor")), timeout=10)
        assert again.status_code == 404, (node.name, again.status_code)


def test_drain_moves_a_nodes_cameras_away_and_undrain_brings_them_back(cluster):
    cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    config = os.path.join(n1.directory, "plugins.json")
    started = time.monotonic()
    drained = subprocess.run([BINARY, "cluster", "drain", "n2", "--config", config, "--timeout", "20"], capture_output=True, text=True, timeout=60)
    assert drained.returncode == 0, drained.stderr
    assert "n2: drained" in drained.stdout
    owners, _ = cluster.wait_for_all_online(10, nodes=[n1, n3])
    print(f"n2 drained, its cameras online on n1 and n3, {time.monotonic() - started:.1f} s after `gateway cluster drain`")
    assert n2.health() == {}
    nodes = {node["id"]: node for node in requests.get(f"{n3.base}/api/cluster", headers=bearer(cluster.admin_token(n3)), timeout=10).json()["nodes"]}
    assert nodes["n2"]["draining"] is True and nodes["n2"]["cameras"] == []
    status = subprocess.run([BINARY, "cluster", "status", "--config", config], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and re.search(r"^n2\t.*\t0 cameras\t.*draining$", status.stdout, re.M), status.stdout

    # Undrain through the API of another node: n2 takes its share again.
    undrain = requests.delete(f"{n1.base}/api/cluster/nodes/n2/drain", headers=bearer(cluster.admin_token(n1)), timeout=10)
    assert undrain.status_code == 200, undrain.text
    cluster.wait_for_all_online(30, balanced=4)
    # Only admins drain.
    refused = requests.post(f"{n1.base}/api/cluster/nodes/n2/drain", headers=bearer(login(n1.base, "olivia")), timeout=10)
    assert refused.status_code == 403
    assert requests.post(f"{n1.base}/api/cluster/nodes/nope/drain", headers=bearer(cluster.admin_token(n1)), timeout=10).status_code == 404


def test_a_killed_nodes_cameras_move_within_10_seconds_and_viewers_get_video_again(cluster):
    owners, _ = cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    camera = owned_by(owners, "n1")[0]
    olivia = login(n2.base, "olivia")
    token = stream_token(n2.base, olivia, camera)
    ws = websocket.create_connection(f"{n2.base.replace('http', 'ws')}/ws/cameras/{camera}?token={token}", timeout=15)
    assert json.loads(ws.recv())["type"] == "init"
    # An HLS player of the same camera through n2 (redirected to n1).
    started = requests.post(f"{n2.base}/api/cameras/{camera}/stream/start", headers=bearer(olivia), timeout=10)
    assert started.status_code == 200, started.text
    playlist_url = f"{n2.base}{started.json()['streamUrl']}"
    before = hls_numbers(playlist_url, timeout=20)
    assert before["node"] == n1.base

    n1.kill()
    killed = time.monotonic()
    moved, took = cluster.wait_for_all_online(10, nodes=[n2, n3])
    print(f"n1 killed: its {list(owners.values()).count('n1')} cameras online on n2/n3 {took:.1f} s later")
    assert "n1" not in moved.values()
    assert cluster.rtsp_connections() == [1] * RTSP_CAMERAS

    # The viewer on n2: its stream from n1 ended (1012); it connects again to n2 and plays.
    code = None
    while time.monotonic() - killed < 10:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, websocket.WebSocketTimeoutException):
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big")
            break
    ws.close()
    assert code == 1012, code
    first = read_fragments(n2.base, camera, token)
    assert first["type"] == "init"
    print(f"the viewer on n2 got video again {time.monotonic() - killed:.1f} s after n1 was killed")
    # The HLS player reloading the same URL reaches the new owner: later segments, after a discontinuity.
    after = hls_numbers(playlist_url, timeout=20)
    print(f"the HLS player got a playlist from the new owner {time.monotonic() - killed:.1f} s after n1 was killed")
    assert after["node"] in (n2.base, n3.base)
    assert after["sequence"] > before["sequence"] + before["segments"] - 1, (before, after)
    assert after["discontinuity"] > before["discontinuity"], (before, after)
    nodes = requests.get(f"{n3.base}/api/cluster", headers=bearer(cluster.admin_token(n3)), timeout=10).json()["nodes"]
    assert [node["id"] for node in nodes] == ["n2", "n3"]

    # n1 comes back and takes its share again.
    n1.start()
    cluster.tokens.pop(n1.base, None)
    cluster.wait_for_all_online(40, balanced=4)


def test_a_frozen_node_is_fenced_its_cameras_move_and_it_stops_them_when_it_wakes(cluster):
    """SIGSTOP: the node's database session stays open but its heartbeat stops. After lease_seconds
    the others end its session and take its cameras; when it wakes it finds its session gone and
    stops its cameras at once (no camera ingested twice for longer than that)."""
    owners, _ = cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    frozen = len(owned_by(owners, "n3", prefix=""))
    n3.process.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        moved, took = cluster.wait_for_all_online(15, nodes=[n1, n2])
    finally:
        n3.process.send_signal(signal.SIGCONT)
    woke = time.monotonic()
    print(f"n3 frozen: its {frozen} cameras online on n1/n2 {took:.1f} s later (lease_seconds 3)")
    assert took < 10
    # Awake again, n3 finds its session ended and stops its cameras (fencing) within a second or two.
    while time.monotonic() - woke < 5 and "the lock session failed: stopping this node's cameras" not in n3.tail(200000):
        time.sleep(0.05)
    print(f"n3 woke and stopped its cameras within {time.monotonic() - woke:.1f} s")
    assert "the lock session failed: stopping this node's cameras" in n3.tail(200000)
    # From then on no RTSP source is ingested twice (a camera between owners may have none).
    for _ in range(20):
        assert max(cluster.rtsp_connections()) <= 1
        time.sleep(0.1)
    cluster.wait_for_all_online(40, balanced=4)


def test_a_rolling_restart_loses_no_camera_for_more_than_10_seconds(cluster):
    cluster.wait_for_all_online(60, balanced=4)
    gaps = {camera: 0.0 for camera in cluster.camera_ids}
    last_seen = {camera: time.monotonic() for camera in cluster.camera_ids}
    stop = threading.Event()
    most_connections = [0]

    def watch():
        while not stop.is_set():
            now = time.monotonic()
            online = set()
            for node in list(cluster.nodes.values()):
                if not node.alive() or node.base is None:
                    continue
                try:
                    answer = requests.get(f"{node.base}/api/health", headers=bearer(cluster.admin_token(node)), timeout=2)
                    online |= {camera["id"] for camera in answer.json()["cameras"] if camera["state"] == "online"}
                except Exception:
                    pass
            # A camera handed over is released only once its source has closed: never two connections.
            most_connections[0] = max(most_connections[0], max(cluster.rtsp_connections()))
            for camera in cluster.camera_ids:
                if camera in online:
                    last_seen[camera] = now
                else:
                    gaps[camera] = max(gaps[camera], now - last_seen[camera])
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for name in NODES:
            node = cluster.nodes[name]
            node.stop()
            cluster.tokens.pop(node.base, None)
            node.start()
            cluster.wait_for_all_online(40, balanced=4)
    finally:
        stop.set()
        watcher.join(timeout=10)
    worst = max(gaps, key=gaps.get)
    print(f"rolling restart of 3 nodes: the longest a camera was not online anywhere was {gaps[worst]:.1f} s ({worst})")
    assert gaps[worst] < 10, gaps
    assert most_connections[0] <= 1, "an RTSP source had two connections during the rolling restart"


def test_cameras_changed_on_one_node_are_run_by_their_owner_and_events_reach_every_node(cluster):
    cluster.wait_for_all_online(60, balanced=4)
    n1, n2, n3 = (cluster.nodes[name] for name in NODES)
    admin = {node.name: cluster.admin_token(node) for node in (n1, n2, n3)}
    # An event stream on n3 sees what happens on the other nodes.
    events = []
    stream = requests.get(f"{n3.base}/api/events", headers=bearer(admin["n3"]), stream=True, timeout=30)
    assert stream.status_code == 200

    def read():
        try:
            for line in stream.iter_lines():
                if line.startswith(b"data:"):
                    events.append(json.loads(line[5:]))
        except Exception:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.5)
    clip = os.path.join(cluster.directory, "clip.mp4")
    created = requests.post(f"{n2.base}/api/cameras", headers=bearer(admin["n2"]), timeout=10,
                            json={"id": "added", "name": "Added", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                                  "sinks": [{"type": "websocket"}]})
    assert created.status_code == 201, created.text
    cluster.camera_ids = sorted(cluster.camera_ids + ["added"])
    owners, took = cluster.wait_for_all_online(10)
    print(f"a camera created on n2 ran on {owners['added']} {took:.1f} s later")
    owner = cluster.nodes[owners["added"]]
    other = next(node for node in (n1, n2, n3) if node is not owner)

    # Changed through a node that does not run it: its owner restarts it with the new sinks.
    patched = requests.patch(f"{other.base}/api/cameras/added", headers=bearer(admin[other.name]), timeout=10,
                             json={"sinks": [{"type": "websocket"}, {"type": "hls", "segment_duration": 2}]})
    assert patched.status_code == 200, patched.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = requests.get(f"{owner.base}/api/health", headers=bearer(admin[owner.name]), timeout=10).json()
        sinks = [camera.get("sinks") for camera in answer["cameras"] if camera["id"] == "added"]
        hls = requests.post(f"{other.base}/api/cameras/added/stream/start", headers=bearer(admin[other.name]), timeout=10)
        if hls.status_code == 200 and hls.json()["streamUrl"].startswith("/hls/"):
            break
        time.sleep(0.2)
    assert hls.status_code == 200 and hls.json()["streamUrl"].startswith("/hls/"), hls.text

    # Deleted through yet another node: it stops everywhere within a second.
    deleted = requests.delete(f"{other.base}/api/cameras/added", headers=bearer(admin[other.name]), timeout=10)
    assert deleted.status_code == 204, deleted.text
    cluster.camera_ids.remove("added")
    started = time.monotonic()
    while "added" in owner.health() and time.monotonic() - started < 5:
        time.sleep(0.05)
    took = time.monotonic() - started
    print(f"a camera deleted on {other.name} stopped on {owner.name} {took:.2f} s later")
    assert took < 1.5
    time.sleep(0.5)
    stream.close()
    names = [(event.get("event"), event.get("camera")) for event in events]
    # The owner's state changes of the new camera reached n3's event stream, whichever node ran it.
    assert ("camera.created", "added") in names, names
    assert ("camera.state_changed", "added") in names, names
    assert ("camera.deleted", "added") in names, names


def test_a_plugins_json_change_on_one_node_reaches_the_node_running_the_camera(cluster):
    owners, _ = cluster.wait_for_all_online(60, balanced=4)
    camera = "file10"
    owner = cluster.nodes[owners[camera]]
    editor = next(node for node in cluster.nodes.values() if node is not owner)
    olivia = login(owner.base, "olivia")
    before = requests.post(f"{owner.base}/api/cameras/{camera}/clips", headers=bearer(olivia), json={}, timeout=10)
    assert before.status_code in (404, 409), before.text  # no clipper yet
    path = os.path.join(editor.directory, "plugins.json")
    config = json.load(open(path))
    for entry in config["cameras"]:
        if entry["id"] == camera:
            entry["sinks"].append({"type": "clipper", "pre_seconds": 1, "post_seconds": 1})
    with open(path, "w") as handle:
        json.dump(config, handle)
    os.kill(editor.process.pid, signal.SIGHUP)
    started = time.monotonic()
    while time.monotonic() - started < 10:
        answer = requests.post(f"{owner.base}/api/cameras/{camera}/clips", headers=bearer(olivia), json={}, timeout=10)
        if answer.status_code == 202:
            break
        time.sleep(0.1)
    print(f"a sink added in {editor.name}'s plugins.json ran on {owner.name} {time.monotonic() - started:.2f} s after SIGHUP")
    assert answer.status_code == 202, answer.text
