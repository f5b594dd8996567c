"""Continuous recording (issue 6, third part): segments that play, a switch, retention by size,
and a kill -9 that loses at most one part."""
import os
import signal
import subprocess
import tempfile
import time


import requests

from conftest import launch, make_clip


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def recordings(base, token, camera):
    return requests.get(f"{base}/api/videos?camera={camera}&kind=recording&limit=100", headers=auth(token)).json()["data"]


def duration_of(path):
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return float(result.stdout.strip())


def test_segments_play_the_switch_works_and_retention_caps_the_size(gateway, tmp_path):
    token = gateway.login("oscar")
    deadline = time.time() + 40
    while time.time() < deadline:
        if any(e["event"] == "video.deleted" and e.get("camera") == "reccam" for e in gateway.events()):
            break
        time.sleep(0.2)
    ready = [r for r in recordings(gateway.base, token, "reccam") if r["status"] == "ready"]
    assert ready
    for index, record in enumerate(ready[:2]):
        data = requests.get(gateway.base + record["stream_url"], headers=auth(token)).content
        path = tmp_path / f"segment-{index}.mp4"
        path.write_bytes(data)
        assert 1.5 <= duration_of(str(path)) <= 3.1
    assert sum(r["size"] for r in ready) <= 600000 + max(r["size"] for r in ready)
    assert any(e["event"] == "video.deleted" and e.get("details", {}).get("reason") == "max_bytes" for e in gateway.events())
    off = requests.post(f"{gateway.base}/api/cameras/reccam/recording", headers=auth(token), json={"enabled": False})
    assert off.json() == {"recording": False}
    time.sleep(0.5)
    assert all(r["status"] != "recording" for r in recordings(gateway.base, token, "reccam"))
    toggled = requests.post(f"{gateway.base}/recordStream", headers=auth(token), json={"cameraId": "reccam"})
    assert toggled.json() == {"success": True, "recording": True}
    assert requests.post(f"{gateway.base}/api/cameras/reccam/recording", headers=auth(gateway.login("sam")), json={"enabled": False}).status_code == 404
    names = [e["event"] for e in gateway.events() if e.get("camera") == "reccam"]
    assert "recording.stopped" in names and "recording.started" in names and "recording.segment_closed" in names


def test_kill_9_loses_at_most_one_part_and_leaves_a_playable_file():
    directory = tempfile.mkdtemp(prefix="gateway-kill-")
    clip = make_clip(directory)
    config = {"server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"}, "auth": {"bcrypt_cost": 4},
              "users": [{"username": "owner", "password": "password-owner", "role": "admin"}],
              "events": [{"type": "log", "file": ""}],
              "cameras": [{"id": "kill", "owner": "owner", "source": {"type": "file", "path": clip, "loop": True},
                           "sinks": [{"type": "recorder", "segment_duration": 60, "part_duration": 0.5}]}]}
    process, base, log = launch(directory, config)
    token = requests.post(f"{base}/api/auth/login", json={"username": "owner", "password": "password-owner"}).json()["token"]
    time.sleep(4.2)
    open_segment = [r for r in recordings(base, token, "kill") if r["status"] == "recording"]
    assert len(open_segment) == 1
    recorded_for = time.time() - time.mktime(time.strptime(open_segment[0]["created_at"][:19], "%Y-%m-%dT%H:%M:%S")) + time.timezone * 0
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    path = os.path.join(directory, "data", "recordings", "kill")
    files = [os.path.join(path, name) for name in os.listdir(path) if name.endswith(".mp4")]
    assert len(files) == 1
    played = duration_of(files[0])
    assert played >= 4.2 - 0.5 - 1.0, played  # everything but the part in progress (and start-up)
    # Started again, the gateway closes the interrupted segment as a playable recording.
    process, base, log = launch(directory, config)
    try:
        token = requests.post(f"{base}/api/auth/login", json={"username": "owner", "password": "password-owner"}).json()["token"]
        interrupted = [r for r in recordings(base, token, "kill") if r["id"] == open_segment[0]["id"]]
        assert interrupted and interrupted[0]["status"] == "ready"
        assert interrupted[0]["details"]["note"] == "closed after an interruption"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_recorded_spans_and_a_stitched_range(gateway, tmp_path):
    import calendar
    token = gateway.login("oscar")
    requests.post(f"{gateway.base}/api/cameras/reccam/recording", headers=auth(token), json={"enabled": True})
    time.sleep(7)
    spans = requests.get(f"{gateway.base}/api/cameras/reccam/recordings", headers=auth(token)).json()["spans"]
    assert spans and spans[-1]["duration"] >= 3
    last = spans[-1]
    end = calendar.timegm(time.strptime(last["end"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + last["end"][20:23])
    played = requests.get(f"{gateway.base}/api/cameras/reccam/recordings/play?start={end - 3.5}&duration=2.5", headers=auth(token))
    assert played.status_code == 200 and played.headers["Content-Type"] == "video/mp4"
    path = tmp_path / "range.mp4"
    path.write_bytes(played.content)
    assert 2.5 - 0.1 <= duration_of(str(path)) <= 2.5 + 1.0 + 0.1  # from the keyframe before start (GOP 1 s)
    assert requests.get(f"{gateway.base}/api/cameras/reccam/recordings/play?start=0&duration=2", headers=auth(token)).status_code == 404
    assert requests.get(f"{gateway.base}/api/cameras/reccam/recordings", headers=auth(gateway.login("sam"))).status_code == 404


def test_a_full_disk_stops_recording_with_an_event_not_a_crash():
    directory = tempfile.mkdtemp(prefix="gateway-full-")
    disk = os.path.join(directory, "disk")
    os.makedirs(disk)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk], capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a small tmpfs for this test: {mounted.stderr}"
    try:
        clip = make_clip(directory)
        config = {"server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"}, "auth": {"bcrypt_cost": 4},
                  "users": [{"username": "owner", "password": "password-owner", "role": "admin"}],
                  "cameras": [{"id": "full", "owner": "owner", "source": {"type": "file", "path": clip, "loop": True},
                               "sinks": [{"type": "recorder", "segment_duration": 600, "part_duration": 0.5, "directory": disk}]}]}
        process, base, log = launch(directory, config)
        try:
            events_path = os.path.join(directory, "data", "events.jsonl")
            deadline = time.time() + 30
            failed = []
            while time.time() < deadline and not failed:
                time.sleep(0.3)
                if os.path.exists(events_path):
                    failed = [line for line in open(events_path).read().splitlines() if '"recording.failed"' in line]
            assert failed, "the recorder did not report the full disk"
            assert process.poll() is None  # still running
            token = requests.post(f"{base}/api/auth/login", json={"username": "owner", "password": "password-owner"}).json()["token"]
            health = requests.get(f"{base}/api/health", headers=auth(token)).json()
            assert health["cameras"][0]["state"] == "online"
            segments = recordings(base, token, "full")
            assert segments and segments[0]["status"] == "failed"
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        subprocess.run(["umount", disk])
