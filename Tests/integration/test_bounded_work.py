"""Work one user can make the gateway do is bounded (`limits`), and what is in progress when
the gateway stops is finished, not lost: clips become READY with what they have."""
import os
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import bearer, launch, login, make_clip, password

USERS = ["admin", "olivia", "victor"]


def start(directory, extra=None, clip=None):
    clip = clip or make_clip(directory)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "bounded-secret-0123456789abcdef0123456789", "bcrypt_cost": 4, "registrations_per_hour": 3},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
        "limits": {"cameras_per_user": 2, "clip_jobs_per_camera": 3, "clip_jobs_per_user": 2, "playbacks": 4, "playbacks_per_user": 1},
        "cameras": [{"id": "clips", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "clipper", "pre_seconds": 2, "post_seconds": 30}]}],
        **(extra or {}),
    }
    return launch(directory, config)


@pytest.fixture(scope="module")
def bounded():
    directory = tempfile.mkdtemp(prefix="gateway-bounded-")
    process, base, log = start(directory)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_registrations_from_one_address_are_rate_limited(bounded):
    statuses = [requests.post(f"{bounded}/api/auth/register", json={"username": f"new{i}", "password": "long enough"}, timeout=10).status_code
                for i in range(4)]
    assert statuses == [201, 201, 201, 429]


def test_cameras_per_user_are_capped_for_users_not_admins(bounded):
    olivia = login(bounded, "olivia")
    def create(token, camera_id, owner=None):
        body = {"id": camera_id, "name": camera_id, "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s"}}
        if owner:
            body["owner"] = owner
        return requests.post(f"{bounded}/api/cameras", headers=bearer(token), json=body, timeout=10)
    # olivia owns `clips` (plugins.json) already: one more, then the cap.
    assert create(olivia, "o1").status_code == 201
    refused = create(olivia, "o2")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "limit_reached"
    assert create(login(bounded, "admin"), "a1").status_code == 201
    assert create(login(bounded, "admin"), "a2", owner="olivia").status_code == 201, "an admin may give her more"


def test_clip_jobs_are_capped_per_user_and_per_camera(bounded):
    olivia, admin = login(bounded, "olivia"), login(bounded, "admin")
    time.sleep(2.5)
    clip = lambda token: requests.post(f"{bounded}/api/cameras/clips/clips", headers=bearer(token), json={}, timeout=10)
    assert [clip(olivia).status_code for _ in range(3)] == [202, 202, 429]
    assert clip(admin).status_code == 202  # admins are not held to the per-user cap…
    refused = clip(admin)  # …but the camera's is for everyone
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_clips"
    assert refused.headers.get("Retry-After")


def test_clips_in_progress_are_finished_when_the_gateway_stops(tmp_path):
    directory = tempfile.mkdtemp(prefix="gateway-stopclip-")
    process, base, log = start(directory)
    token = login(base, "olivia")
    time.sleep(3)
    triggered = requests.post(f"{base}/api/cameras/clips/clips", headers=bearer(token), json={"label": "cut short"}, timeout=10)
    assert triggered.status_code == 202
    clip_id = triggered.json()["clip"]["id"]
    time.sleep(2)
    process.terminate()
    assert process.wait(timeout=30) == 0
    os.rename(os.path.join(directory, "gateway.log"), os.path.join(directory, "gateway-first.log"))
    process, base, log = start(directory, clip=os.path.join(directory, "clip.mp4"))
    try:
        video = requests.get(f"{base}/api/videos/{clip_id}", headers=bearer(login(base, "olivia")), timeout=10).json()
        assert video["status"] == "ready", video
        assert video["details"]["truncated"] is True and "stopped" in video["details"]["note"]
        data = requests.get(f"{base}{video['stream_url']}", headers=bearer(login(base, "olivia")), timeout=10).content
        path = tmp_path / "cut.mp4"
        path.write_bytes(data)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                               capture_output=True, text=True)
        assert probe.returncode == 0 and probe.stderr == ""
        assert 3 <= float(probe.stdout) <= 6, probe.stdout  # 2 s before + about 2 s after, ± a GOP
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_clip_cut_off_by_kill_9_is_failed_with_a_reason_not_left_pending():
    directory = tempfile.mkdtemp(prefix="gateway-killclip-")
    process, base, log = start(directory)
    token = login(base, "olivia")
    time.sleep(3)
    clip_id = requests.post(f"{base}/api/cameras/clips/clips", headers=bearer(token), json={}, timeout=10).json()["clip"]["id"]
    process.kill()
    process.wait(timeout=30)
    process, base, log = start(directory, clip=os.path.join(directory, "clip.mp4"))
    try:
        deadline = time.time() + 10
        while True:
            video = requests.get(f"{base}/api/videos/{clip_id}", headers=bearer(login(base, "olivia")), timeout=10).json()
            if video["status"] != "recording" or time.time() > deadline:
                break
            time.sleep(0.2)
        assert video["status"] == "failed" and "stopped before" in video["details"]["error"], video
    finally:
        process.terminate()
        process.wait(timeout=30)
