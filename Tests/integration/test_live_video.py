"""Live fMP4 to browsers: Socket.IO `watch` and the plain WebSocket endpoint, checked by
decoding what a client received with ffprobe."""
import json
import os
import subprocess
import threading
import time

import pytest
from socketio_client import InOrderClient
import websocket

GOP_FRAMES = 25  # the fixture camera: 25 fps, a keyframe every 25 frames; live fragments are parts of it (0.2 s)


def count_frames(path):
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames,codec_name", "-of", "csv=p=0", path], capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    codec, frames = probe.stdout.strip().split(",")
    return codec, int(frames)


class Watcher:
    """Done after `fragments_wanted` fragments, or with `gops`, once it holds that many whole GOPs."""

    def __init__(self, gateway, user, fragments_wanted, transports=("websocket",), gops=None):
        self.client = InOrderClient(reconnection=False)
        self.init = None
        self.fragments = []
        self.done = threading.Event()
        self.wanted = fragments_wanted
        self.gops = gops
        self.client.on("video:init", self.on_init)
        self.client.on("video:fragment", self.on_fragment)
        self.client.connect(gateway.base, auth={"token": gateway.login(user)}, transports=list(transports), wait_timeout=10)

    def on_init(self, data):
        self.init = data

    def on_fragment(self, data):
        self.fragments.append(data)
        if self.gops is not None:
            if sum(f["keyframe"] for f in self.fragments) > self.gops:
                self.done.set()
        elif len(self.fragments) >= self.wanted:
            self.done.set()

    def whole_gops(self):
        """The fragments of the first `gops` GOPs (the first fragment starts one)."""
        starts = [index for index, f in enumerate(self.fragments) if f["keyframe"]]
        return self.fragments[:starts[self.gops]]


def test_watch_sends_the_init_segment_then_fragments_that_decode(gateway, tmp_path):
    watcher = Watcher(gateway, "olivia", None, gops=3)
    ack = watcher.client.call("watch", {"cameraId": "lobby"}, timeout=10)
    assert ack == {"success": True, "cameraId": "lobby"}
    assert watcher.done.wait(20), f"only {len(watcher.fragments)} fragments"
    assert watcher.client.call("unwatch", {"cameraId": "lobby"}, timeout=10) == {"success": True}
    watcher.client.disconnect()
    init = watcher.init
    assert init["cameraId"] == "lobby"
    assert init["codecs"].startswith("avc1.")
    assert init["mimeType"] == f'video/mp4; codecs="{init["codecs"]}"'
    assert isinstance(init["data"], bytes) and init["data"][4:8] == b"ftyp"
    first = watcher.whole_gops()
    assert first[0]["keyframe"] is True
    assert [f["sequence"] for f in first] == list(range(first[0]["sequence"], first[0]["sequence"] + len(first)))
    # Parts of at most 0.2 s (the default), cut at frames, the first of each GOP flagged.
    assert len(first) >= 15 and max(f["duration"] for f in first) <= 0.2 + 0.041, [f["duration"] for f in first]
    assert all(f["receivedAt"] <= f["publishedAt"] for f in first)
    path = tmp_path / "watched.mp4"
    path.write_bytes(init["data"] + b"".join(f["data"] for f in first))
    assert count_frames(str(path)) == ("h264", 3 * GOP_FRAMES)


def test_a_stranger_cannot_watch(gateway):
    client = InOrderClient(reconnection=False)
    client.connect(gateway.base, auth={"token": gateway.login("sam")}, transports=["polling"], wait_timeout=10)
    ack = client.call("watch", {"cameraId": "lobby"}, timeout=10)
    assert ack["success"] is False and ack["code"] == "not_found"
    assert client.call("watch", {"cameraId": "nope"}, timeout=10)["code"] == "not_found"
    client.disconnect()


def test_concurrent_viewers_receive_identical_fragments(gateway):
    watchers = [Watcher(gateway, "olivia", 2, transports=("websocket",) if i % 2 else ("polling",)) for i in range(6)]
    for watcher in watchers:
        assert watcher.client.call("watch", {"cameraId": "lobby"}, timeout=10)["success"] is True
    for watcher in watchers:
        assert watcher.done.wait(20)
    by_sequence = {}
    for watcher in watchers:
        for fragment in watcher.fragments:
            by_sequence.setdefault(fragment["sequence"], set()).add(fragment["data"])
        watcher.client.disconnect()
    assert all(len(copies) == 1 for copies in by_sequence.values())
    assert len({w.init["data"] for w in watchers}) == 1


def stream_token(gateway, user, camera_id):
    import requests
    response = requests.post(f"{gateway.base}/api/cameras/{camera_id}/stream/token",
                             headers={"Authorization": f"Bearer {gateway.login(user)}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_plain_websocket_endpoint(gateway, tmp_path):
    url = stream_token(gateway, "olivia", "lobby")["websocket_url"]
    ws = websocket.create_connection(gateway.base.replace("http", "ws") + url, timeout=10)
    meta = json.loads(ws.recv())
    assert meta["type"] == "init" and meta["codecs"].startswith("avc1.")
    chunks = []
    # The init segment, then parts from a keyframe on; 2 s of them hold two whole GOPs' frames.
    while len(chunks) < 1 + 2 * 5:
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY  # no timing frames unless asked for
        chunks.append(bytes(data))
    ws.close()
    path = tmp_path / "plain.mp4"
    path.write_bytes(b"".join(chunks))
    assert count_frames(str(path)) == ("h264", 2 * GOP_FRAMES)


@pytest.mark.parametrize("user,how,code", [(None, None, 4401), ("sam", "header", 4404), ("olivia", "query", 4401)])
def test_plain_websocket_refuses_without_access(gateway, user, how, code):
    """No token; a user without access (bearer header); an account token in the URL, which is
    never accepted there (only a camera's stream token is)."""
    query, headers = "", []
    if how == "header":
        headers = [f"Authorization: Bearer {gateway.login(user)}"]
    elif how == "query":
        query = f"?token={gateway.login(user)}"
    ws = websocket.create_connection(gateway.base.replace("http", "ws") + f"/ws/cameras/lobby{query}", header=headers, timeout=10)
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == code
    assert len(data) > 2  # with the reason
    ws.close()


def test_plain_get_without_upgrade_answers_with_the_api_errors(gateway):
    import requests
    assert requests.get(gateway.base + "/ws/cameras/lobby").status_code == 401
    assert requests.get(gateway.base + "/ws/cameras/lobby", headers={"Authorization": f"Bearer {gateway.login('sam')}"}).status_code == 404
    assert requests.get(gateway.base + "/ws/cameras/lobby", headers={"Authorization": f"Bearer {gateway.login('olivia')}"}).status_code == 426


def test_watchers_of_a_camera_hear_its_state_changes(gateway):
    import requests
    watcher = Watcher(gateway, "olivia", 1)
    states = []
    watcher.client.on("camera:state", lambda data: states.append(data))
    other = Watcher(gateway, "admin", 1)
    other_states = []
    other.client.on("camera:state", lambda data: other_states.append(data))
    token = gateway.login("olivia")
    created = requests.post(gateway.base + "/api/cameras", headers={"Authorization": f"Bearer {token}"},
                            json={"id": "roomcam", "name": "Room", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/x"}, "sinks": [{"type": "websocket"}]})
    assert created.status_code == 201
    assert watcher.client.call("watch", {"cameraId": "roomcam"}, timeout=10)["success"] is True
    assert other.client.call("watch", {"cameraId": "lobby"}, timeout=10)["success"] is True
    patched = requests.patch(gateway.base + "/api/cameras/roomcam", headers={"Authorization": f"Bearer {token}"}, json={"name": "Room 2"})
    assert patched.status_code == 200
    deadline = __import__("time").time() + 10
    while not any(s["state"] == "offline" for s in states) and __import__("time").time() < deadline:
        __import__("time").sleep(0.05)
    assert any(s["cameraId"] == "roomcam" and s["state"] == "offline" for s in states), states
    assert all(s["cameraId"] == "lobby" for s in other_states), "only the camera's own watchers hear it"
    requests.delete(gateway.base + "/api/cameras/roomcam", headers={"Authorization": f"Bearer {token}"})
    watcher.client.disconnect()
    other.client.disconnect()


def test_play_video_sends_the_whole_file_at_the_clients_pace(gateway, tmp_path):
    client = InOrderClient(reconnection=False)
    chunks, ended, init = [], threading.Event(), {}
    client.on("video:init", lambda data: init.update(data))
    client.on("video:chunk", lambda data: chunks.append(data))
    client.on("video:end", lambda data: (init.update(end=data), ended.set()))
    client.connect(gateway.base, auth={"token": gateway.login("victor")}, transports=["websocket"], wait_timeout=10)
    refused = client.call("playVideo", {"videoId": "camera:lobby"}, timeout=10)
    assert refused["success"] is False and refused["code"] == "not_found"
    owner = InOrderClient(reconnection=False)
    owner.connect(gateway.base, auth={"token": gateway.login("olivia")}, transports=["polling"], wait_timeout=10)
    owner.on("video:init", lambda data: init.update(data))
    owner.on("video:chunk", lambda data: chunks.append(data))
    owner.on("video:end", lambda data: (init.update(end=data), ended.set()))
    ack = owner.call("playVideo", {"videoId": "camera:lobby"}, timeout=10)
    assert ack["success"] is True and abs(ack["duration"] - 4.0) < 0.1
    assert ended.wait(20)
    assert [c["sequence"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert init["end"]["chunks"] == len(chunks) == 4
    path = tmp_path / "played.mp4"
    path.write_bytes(init["data"] + b"".join(c["data"] for c in chunks))
    assert count_frames(str(path)) == ("h264", 4 * GOP_FRAMES)
    assert owner.call("playVideo", {"videoId": "no-such-video"}, timeout=10)["code"] == "not_found"
    client.disconnect()
    owner.disconnect()


def test_a_client_that_stops_reading_is_disconnected(gateway):
    """Over long-polling a client that sends no GET takes nothing: its buffer stays above the
    camera's viewer_max_buffer_bytes, and after viewer_stall_seconds the session is closed."""
    import requests
    base = gateway.base + "/socket.io/?EIO=4&transport=polling"
    handshake = requests.get(base)
    sid = json.loads(handshake.text[1:])["sid"]
    session = f"{base}&sid={sid}"
    token = gateway.login("olivia")
    assert requests.post(session, data='40{"token":"%s"}' % token).text == "ok"
    assert requests.get(session).text.startswith("40{")
    assert requests.post(session, data='420["watch",{"cameraId":"strict"}]').text == "ok"
    time.sleep(3)  # read nothing: the init and the GOP exceed 4096 bytes for more than 1 s
    assert requests.get(session).status_code == 400  # the session is gone
    events = []
    events = gateway.events()
    assert any(e["event"] == "viewer.left" and e.get("camera") == "strict" for e in events)


def test_viewers_of_a_camera_that_restarts_are_told_to_come_back(gateway):
    """A change restarts the camera's pipeline: a /ws viewer gets close 1012 and a Socket.IO
    watcher `video:ended`, rather than a stream that silently stops."""
    import requests
    admin = {"Authorization": f"Bearer {gateway.login('admin')}"}
    lobby = requests.get(f"{gateway.base}/api/cameras/lobby", headers=admin, timeout=10).json()
    created = requests.post(f"{gateway.base}/api/cameras", headers=admin, timeout=10,
                            json={"id": "restarting", "name": "Restarting", "source": lobby["source"], "sinks": [{"type": "websocket"}]})
    assert created.status_code == 201, created.text
    try:
        token = requests.post(f"{gateway.base}/api/cameras/restarting/stream/token", headers=admin, timeout=10).json()["token"]
        socket = websocket.create_connection(f"{gateway.base.replace('http', 'ws')}/ws/cameras/restarting?token={token}", timeout=10)
        client = InOrderClient()
        ended = threading.Event()
        client.on("video:ended", lambda data: ended.set() if data["cameraId"] == "restarting" else None)
        client.connect(gateway.base, auth={"token": gateway.login("admin")}, transports=["websocket"])
        try:
            assert client.call("watch", {"cameraId": "restarting"}, timeout=10)["success"]
            frames = 0
            while frames < 3:
                opcode, _ = socket.recv_data()
                frames += opcode == websocket.ABNF.OPCODE_BINARY
            assert requests.patch(f"{gateway.base}/api/cameras/restarting", headers=admin, json={"name": "Restarted"}, timeout=10).status_code == 200
            deadline = time.time() + 10
            while time.time() < deadline:
                opcode, data = socket.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
            assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1012, (opcode, data[:40])
            assert ended.wait(10)
        finally:
            socket.close()
            client.disconnect()
    finally:
        requests.delete(f"{gateway.base}/api/cameras/restarting", headers=admin, timeout=10)
