"""Clips cut from the clipper's memory, checked with ffprobe (issue 6, first part)."""
import subprocess
import time

import requests
from socketio_client import InOrderClient

GOP = 1.0  # the fixture camera's keyframe interval


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def wait_ready(gateway, token, clip_id, timeout=10, poll=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        video = requests.get(f"{gateway.base}/api/videos/{clip_id}", headers=auth(token)).json()
        if video["status"] in ("ready", "failed"):
            return video
        time.sleep(poll)
    raise AssertionError(f"clip {clip_id} not ready")


def probe(path):
    result = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                             "stream=nb_read_frames:format=duration", "-of", "csv=p=0", path], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.split()
    first = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pict_type,pts_time", "-of", "csv=p=0",
                            "-read_intervals", "%+#1", path], capture_output=True, text=True).stdout.split()[0]
    return int(lines[0]), float(lines[1]), first


def test_a_triggered_clip_has_its_pre_and_post_roll_and_starts_on_a_keyframe(gateway, tmp_path):
    token = gateway.login("oscar")
    time.sleep(3)  # the buffer holds the pre-roll
    triggered = requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(token), json={"label": "door"})
    assert triggered.status_code == 202
    clip = triggered.json()["clip"]
    assert clip["status"] == "recording" and clip["label"] == "door"
    started = time.time()
    video = wait_ready(gateway, token, clip["id"], poll=0.02)
    assert video["status"] == "ready"
    # READY within 0.5 s of the post-roll's end (1 s after the trigger), plus the test's polling.
    assert time.time() - started < 1 + 0.5 + 0.1, time.time() - started
    data = requests.get(f"{gateway.base}{video['stream_url']}", headers=auth(token)).content
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # progressive: the index first
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    frames, duration, first = probe(str(path))
    assert abs(duration - 3.0) <= GOP + 0.05, duration  # 2 s before + 1 s after, ± a GOP
    assert abs(frames - duration * 25) <= 1
    assert first.startswith("0.000000,I")  # starts on a keyframe at time 0


def test_overlapping_triggers_each_get_their_clip_and_viewers_may_not_trigger(gateway):
    token = gateway.login("oscar")
    time.sleep(2)
    first = requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(token), json={"post_seconds": 2}).json()["clip"]
    time.sleep(0.5)
    second = requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(token), json={"pre_seconds": 1}).json()["clip"]
    assert first["id"] != second["id"]
    assert wait_ready(gateway, token, first["id"])["status"] == "ready"
    assert wait_ready(gateway, token, second["id"])["status"] == "ready"
    owner = auth(gateway.login("oscar"))
    requests.post(f"{gateway.base}/api/cameras/clipcam/shares", headers=owner, json={"username": "victor", "role": "viewer"})
    assert requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(gateway.login("victor")), json={}).status_code == 403
    assert requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(gateway.login("sam")), json={}).status_code == 404
    seed = requests.post(f"{gateway.base}/api/store", headers=owner)
    assert seed.status_code == 202 and seed.json()["success"] is True
    client = InOrderClient(reconnection=False)
    client.connect(gateway.base, auth={"token": gateway.login("oscar")}, transports=["websocket"], wait_timeout=10)
    ack = client.call("triggerClip", {"cameraId": "clipcam", "post_seconds": 0.5}, timeout=10)
    assert ack["success"] is True and wait_ready(gateway, token, ack["clip"]["id"])["status"] == "ready"
    client.disconnect()
    requests.delete(f"{gateway.base}/api/cameras/clipcam/shares/victor", headers=owner)
    events = [e["event"] for e in gateway.events() if e.get("camera") == "clipcam"]
    assert events.count("clip.triggered") >= 4 and events.count("clip.ready") >= 4
