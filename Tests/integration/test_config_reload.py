"""plugins.json reloaded without a restart (issue 12): on SIGHUP and when the file changes, only
what changed is applied — an added camera starts, a removed one stops, a changed source restarts
its camera alone, a changed sink restarts alone — while viewers of untouched cameras keep
receiving. An invalid file is refused with every problem, and the running configuration stays;
sections that need a restart are reported."""
import json
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest
import requests
import websocket

from conftest import launch, login, make_clip, password
from test_hls import auth


def camera(camera_id, clip, sinks, name=None):
    return {"id": camera_id, "name": name or camera_id, "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
            "sinks": sinks}


def base_config(clip, other_clip):
    return {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "reload-secret-0123456789abcdef0123456789ab", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in ("admin", "olivia")],
        "cameras": [camera("steady", clip, [{"type": "websocket"}]),
                    camera("sinky", clip, [{"type": "websocket"}, {"type": "hls", "segment_duration": 2, "idle_timeout": 30}]),
                    camera("swap", clip, [{"type": "websocket"}]),
                    camera("renamed", clip, [{"type": "websocket"}], name="Old name"),
                    camera("gone", other_clip, [{"type": "websocket"}])],
    }


class Viewer:
    """A WebSocket viewer that counts the fragments it gets and notes when its stream ends."""

    def __init__(self, base, token, camera_id):
        self.ws = websocket.create_connection(base.replace("http", "ws") + f"/ws/cameras/{camera_id}",
                                              header=[f"Authorization: Bearer {token}"], timeout=30)
        self.fragments = 0
        self.ended = None
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            while True:
                opcode, _ = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    self.fragments += 1
        except Exception as error:  # noqa: BLE001 - any end of the stream is what is recorded
            self.ended = repr(error)

    def close(self):
        self.ws.close()


def events(directory, name):
    path = os.path.join(directory, "data", "events.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if f'"{name}"' in line]


def wait_event(directory, name, count, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = events(directory, name)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.1)
    pytest.fail(f"no {name} event #{count} within {timeout} s", pytrace=False)


def write_config(path, config):
    temporary = path + ".new"
    with open(temporary, "w") as handle:
        json.dump(config, handle)
    os.replace(temporary, path)  # as editors save


def health(base, token):
    return {c["id"]: c for c in requests.get(f"{base}/api/health", headers=auth(token), timeout=10).json()["cameras"]}


def test_plugins_json_reloads_only_what_changed(tmp_path):
    directory = tempfile.mkdtemp(prefix="gateway-reload-")
    clip = make_clip(directory)
    other_clip = os.path.join(directory, "other.mp4")
    shutil.copy(clip, other_clip)
    config = base_config(clip, other_clip)
    process, base, log = launch(directory, config)
    path = os.path.join(directory, "plugins.json")
    try:
        token = login(base, "olivia")
        deadline = time.time() + 20
        while time.time() < deadline and not all(c["state"] == "online" for c in health(base, token).values()):
            time.sleep(0.2)
        steady, sinky = Viewer(base, token, "steady"), Viewer(base, token, "sinky")
        time.sleep(1.5)
        assert steady.fragments > 0 and sinky.fragments > 0
        sinky_reconnects = health(base, token)["sinky"]["reconnects"]

        changed = base_config(clip, other_clip)
        changed["cameras"] = [c for c in changed["cameras"] if c["id"] != "gone"]
        for c in changed["cameras"]:
            if c["id"] == "sinky":
                c["sinks"][1]["segment_duration"] = 3  # only the HLS sink changes
            if c["id"] == "swap":
                c["source"]["path"] = other_clip  # the source changes
            if c["id"] == "renamed":
                c["name"] = "New name"
        changed["cameras"].append(camera("fresh", clip, [{"type": "websocket"}]))
        write_config(path, changed)
        process.send_signal(signal.SIGHUP)
        reloaded = wait_event(directory, "config.reloaded", 1)["details"]
        assert reloaded["added"] == ["fresh"] and reloaded["removed"] == ["gone"], reloaded
        assert reloaded["restarted"] == ["swap"] and reloaded["sinks_restarted"] == {"sinky": [1]}, reloaded
        assert reloaded["updated"] == ["renamed"] and reloaded["needs_restart"] == [], reloaded

        cameras = health(base, token)
        assert "fresh" in cameras and "gone" not in cameras
        assert requests.get(f"{base}/api/cameras/renamed", headers=auth(token), timeout=10).json()["name"] == "New name"
        deadline = time.time() + 20
        while time.time() < deadline and health(base, token)["fresh"]["state"] != "online":
            time.sleep(0.2)
        assert health(base, token)["fresh"]["state"] == "online"
        # Viewers of the untouched camera, and of the camera whose other sink changed, saw nothing.
        before = (steady.fragments, sinky.fragments)
        time.sleep(2)
        assert steady.ended is None and sinky.ended is None, (steady.ended, sinky.ended)
        assert steady.fragments > before[0] and sinky.fragments > before[1]
        assert health(base, token)["sinky"]["reconnects"] == sinky_reconnects
        # The HLS sink that restarted plays with its new segment length.
        started = requests.post(f"{base}/api/cameras/sinky/stream/start", headers=auth(token), timeout=30)
        assert started.status_code == 200
        playlist = requests.get(base + started.json()["streamUrl"].replace("master.m3u8", "index.m3u8"), headers=auth(token), timeout=30)
        assert playlist.status_code == 200 and "#EXT-X-TARGETDURATION:3" in playlist.text, playlist.text

        # An invalid file (found by watching the file, no signal): refused with every problem, nothing changes.
        broken = json.loads(json.dumps(changed))
        broken["cameras"][0]["sinks"] = [{"type": "no-such-sink"}]
        broken["cameras"].append({"id": "fresh", "source": {"type": "file"}})
        write_config(path, broken)
        failed = wait_event(directory, "config.reload_failed", 1)["details"]
        assert len(failed["problems"]) >= 2 and any("cameras[0].sinks[0].type" in p for p in failed["problems"]), failed
        assert set(health(base, token)) == {"steady", "sinky", "swap", "renamed", "fresh"}
        assert steady.ended is None

        # A section that cannot change under a running process is reported, the rest applied.
        restart = json.loads(json.dumps(changed))
        restart["auth"]["token_ttl_seconds"] = 600
        write_config(path, restart)
        process.send_signal(signal.SIGHUP)
        second = wait_event(directory, "config.reloaded", 2)["details"]
        assert second["needs_restart"] == ["auth"] and second["added"] == [] and second["restarted"] == [], second
        steady.close()
        sinky.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
