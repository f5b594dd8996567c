"""Access follows open streams: when a grant is revoked or expires, a camera is deleted or a token
expires, every open stream of that user for that camera stops within 2 s — MJPEG, the raw
WebSocket, Socket.IO `watch` and `playVideo` — and HLS refuses the next request. Real clients:
requests (MJPEG), websocket-client, python-socketio."""
import json
import os
import subprocess
import tempfile
import threading
import time

import pytest
import requests
from socketio_client import InOrderClient
import websocket

from conftest import bearer, launch, login, password
from live_servers import HTTPCamera

USERS = ["admin", "olivia", "victor"]
LIMIT = 2.5  # seconds: the promise is 2 s, plus the client's own reaction


@pytest.fixture(scope="module")
def revocation_gateway():
    directory = tempfile.mkdtemp(prefix="gateway-revoke-")
    long_clip = os.path.join(directory, "long.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-g", "25", "-pix_fmt", "yuv420p", long_clip], check=True)
    mjpeg = HTTPCamera(["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"], ["-c:v", "mjpeg", "-q:v", "8", "-f", "mpjpeg"], "v.mjpg").start()
    sinks = [{"type": "websocket"}, {"type": "hls", "segment_duration": 1, "part_duration": 0, "idle_timeout": 10}]
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "revocation-secret-0123456789abcdef012345", "bcrypt_cost": 4, "token_ttl_seconds": 3600},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
        "cameras": [{"id": "yard", "owner": "olivia", "source": {"type": "file", "path": long_clip, "loop": True}, "sinks": sinks},
                    {"id": "door", "owner": "olivia", "source": {"type": "http", "url": mjpeg.url, "format": "mjpeg"},
                     "sinks": [{"type": "mjpeg"}]}],
    }
    process, base, log = launch(directory, config)
    yield base
    process.terminate()
    process.wait(timeout=30)
    mjpeg.stop()


def share(base, camera, expires_at=None):
    body = {"username": "victor", "role": "viewer"}
    if expires_at:
        body["expires_at"] = expires_at
    response = requests.post(f"{base}/api/cameras/{camera}/shares", headers=bearer(login(base, "olivia")), json=body, timeout=10)
    assert response.status_code == 201, response.text


def revoke(base, camera):
    response = requests.delete(f"{base}/api/cameras/{camera}/shares/victor", headers=bearer(login(base, "olivia")), timeout=10)
    assert response.status_code == 204, response.text
    return time.time()


def test_revoking_a_grant_closes_the_raw_websocket(revocation_gateway):
    base = revocation_gateway
    share(base, "yard")
    token = requests.post(f"{base}/api/cameras/yard/stream/token", headers=bearer(login(base, "victor")), timeout=10).json()
    ws = websocket.create_connection(base.replace("http", "ws") + token["websocket_url"], timeout=10)
    assert '"init"' in ws.recv()
    ws.recv_data()
    revoked = revoke(base, "yard")
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert time.time() - revoked < LIMIT
    assert int.from_bytes(data[:2], "big") == 4403
    ws.close()
    # The stream token is worth nothing without the grant.
    again = websocket.create_connection(base.replace("http", "ws") + token["websocket_url"], timeout=10)
    opcode, data = again.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4404
    again.close()


class PollingClient:
    """A Socket.IO client over Engine.IO long-polling, written out so that the test decides
    when it reads: a player that stops reading keeps the server's playback waiting mid-file."""

    def __init__(self, base, token):
        self.base = base
        opened = requests.get(f"{base}/socket.io/?EIO=4&transport=polling", timeout=10).text
        self.sid = json.loads(opened[1:])["sid"]
        self.post("40" + json.dumps({"token": token}))
        assert any(p.startswith("40") for p in self.get())

    @property
    def url(self):
        return f"{self.base}/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    def post(self, packet):
        assert requests.post(self.url, data=packet.encode(), timeout=10).status_code == 200

    def get(self, timeout=10):
        """The packets of one long-poll; [] when nothing came within `timeout`."""
        try:
            return requests.get(self.url, timeout=timeout).text.split("\x1e")
        except requests.exceptions.ReadTimeout:
            return []

    @staticmethod
    def events(packets):
        names = []
        for packet in packets:
            if packet.startswith("42") or packet.startswith("45"):
                body = packet[2:].split("-", 1)[1] if packet.startswith("45") else packet[2:]
                body = body.lstrip("0123456789")
                names.append(json.loads(body)[0])
        return names


def test_revoking_a_grant_stops_socketio_watch_and_play_video(revocation_gateway):
    base = revocation_gateway
    share(base, "yard")
    client = InOrderClient(reconnection=False)
    fragments, revoked_events = [], []
    client.on("video:fragment", lambda data: fragments.append(time.time()))
    client.on("video:revoked", lambda data: revoked_events.append((time.time(), data)))
    client.connect(base, auth={"token": login(base, "victor")}, transports=["websocket"], wait_timeout=10)
    assert client.call("watch", {"cameraId": "yard"}, timeout=10)["success"] is True
    deadline = time.time() + 15
    while not fragments and time.time() < deadline:
        time.sleep(0.05)
    assert fragments

    player = PollingClient(base, login(base, "victor"))
    player.post('421["playVideo",{"videoId":"camera:yard"}]')
    seen = []
    while "video:chunk" not in seen:
        packets = player.get()
        assert packets, "playback sent nothing"
        seen += PollingClient.events(packets)
    # The player stops reading: the server holds at most 1 MB for it and waits, mid-file.
    time.sleep(1)
    revoked = revoke(base, "yard")
    time.sleep(LIMIT)
    assert revoked_events and revoked_events[0][0] - revoked < LIMIT, revoked_events
    assert revoked_events[0][1]["cameraId"] == "yard"
    assert not [t for t in fragments if t > revoked + LIMIT], "fragments kept coming after the revocation"
    client.disconnect()
    # What was queued before the revocation, then the error, then nothing more.
    after = []
    while "video:error" not in after:
        packets = player.get(timeout=5)
        assert packets, f"no video:error; got {after}"
        after += PollingClient.events(packets)
    assert after.count("video:chunk") <= 12, after
    assert "video:end" not in after
    assert "video:chunk" not in PollingClient.events(player.get(timeout=3))


def test_revoking_a_grant_ends_the_mjpeg_stream_and_hls(revocation_gateway):
    base = revocation_gateway
    share(base, "door")
    share(base, "yard")
    victor = login(base, "victor")
    token = requests.post(f"{base}/api/cameras/door/stream/token", headers=bearer(victor), timeout=10).json()
    response = requests.get(base + token["mjpeg_url"], stream=True, timeout=10)
    assert response.status_code == 200
    ended = threading.Event()
    received = []

    def read():
        try:
            for chunk in response.iter_content(4096):
                received.append(len(chunk))
        except Exception:
            pass
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 10
    while sum(received) < 10_000 and time.time() < deadline:
        time.sleep(0.05)
    assert sum(received) >= 10_000
    playlist = requests.get(f"{base}/hls/yard/index.m3u8", headers=bearer(victor), timeout=30)
    assert playlist.status_code == 200
    revoked = revoke(base, "door")
    assert ended.wait(LIMIT), "the MJPEG stream went on after the revocation"
    assert time.time() - revoked < LIMIT
    revoke(base, "yard")
    assert requests.get(f"{base}/hls/yard/index.m3u8", headers=bearer(victor), timeout=10).status_code == 404
    segment_uri = [line for line in playlist.text.splitlines() if line and not line.startswith("#")][0]
    assert requests.get(f"{base}/hls/yard/{segment_uri}", timeout=10).status_code in (401, 404)


def test_an_expiring_grant_ends_the_stream_when_it_expires(revocation_gateway):
    base = revocation_gateway
    expires = time.time() + 4
    share(base, "yard", expires_at=expires)
    token = requests.post(f"{base}/api/cameras/yard/stream/token", headers=bearer(login(base, "victor")), timeout=10).json()
    ws = websocket.create_connection(base.replace("http", "ws") + token["websocket_url"], timeout=20)
    assert '"init"' in ws.recv()
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert expires - 0.5 < time.time() < expires + LIMIT
    assert int.from_bytes(data[:2], "big") == 4403


def test_deleting_the_camera_ends_its_streams(revocation_gateway):
    base = revocation_gateway
    admin = login(base, "admin")
    created = requests.post(f"{base}/api/cameras", headers=bearer(admin), timeout=10, json={
        "id": "temp", "name": "Temp", "owner": "olivia", "sinks": [{"type": "websocket"}],
        "source": {"type": "usb", "driver": "lavfi", "device": "testsrc2=size=320x240:rate=25"}})
    assert created.status_code == 201, created.text
    share(base, "temp")
    token = requests.post(f"{base}/api/cameras/temp/stream/token", headers=bearer(login(base, "victor")), timeout=10).json()
    ws = websocket.create_connection(base.replace("http", "ws") + token["websocket_url"], timeout=20)
    assert '"init"' in ws.recv()
    deleted = time.time()
    assert requests.delete(f"{base}/api/cameras/temp", headers=bearer(admin), timeout=10).status_code == 204
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert time.time() - deleted < LIMIT
