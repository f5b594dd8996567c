"""A camera with websocket, hls and recorder sinks is remuxed once (issue 12): one fragmenter in
/metrics, one reader of the camera's packets in /api/health — and every consumer still plays:
HLS through ffmpeg, the WebSocket stream through ffprobe, and a recording file that starts at 0."""
import json
import re
import subprocess
import tempfile
import time

import pytest
import requests
import websocket

from conftest import launch, login, make_clip, password
from test_hls import auth


@pytest.fixture(scope="module")
def gateway():
    directory = tempfile.mkdtemp(prefix="gateway-fragmenter-")
    clip = make_clip(directory)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "fragmenter-secret-0123456789abcdef01234567", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in ("admin", "olivia")],
        "cameras": [{"id": "all", "name": "All", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "websocket"}, {"type": "hls", "segment_duration": 2, "part_duration": 0.5, "idle_timeout": 30},
                               {"type": "recorder", "segment_duration": 2, "part_duration": 1}]}],
    }
    process, base, log = launch(directory, config)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_three_fmp4_sinks_share_one_remux_and_all_play(gateway, tmp_path):
    token = login(gateway, "olivia")
    started = requests.post(f"{gateway}/api/cameras/all/stream/start", headers=auth(token), timeout=30)
    assert started.status_code == 200, started.text
    hls = gateway + started.json()["streamUrl"]
    # HLS plays.
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", hls, "-t", "3", "-f", "null", "-"],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    # The WebSocket stream decodes.
    ws = websocket.create_connection(gateway.replace("http", "ws") + "/ws/cameras/all", header=[f"Authorization: Bearer {token}"], timeout=20)
    assert json.loads(ws.recv())["type"] == "init"
    chunks = [bytes(ws.recv_data()[1]) for _ in range(4)]
    ws.close()
    path = tmp_path / "ws.mp4"
    path.write_bytes(b"".join(chunks))
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "" and int(probe.stdout.strip()) > 0, probe.stderr
    # A finished recording plays from 0.
    deadline = time.time() + 30
    ready = []
    while time.time() < deadline and not ready:
        videos = requests.get(f"{gateway}/api/videos?camera=all&kind=recording&limit=100", headers=auth(token), timeout=10).json()["data"]
        ready = [v for v in videos if v["status"] == "ready"]
        time.sleep(0.5)
    assert ready, "no recording segment was closed"
    recording = tmp_path / "rec.mp4"
    recording.write_bytes(requests.get(f"{gateway}/api/videos/{ready[0]['id']}/stream", headers=auth(token), timeout=30).content)
    start = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=start_time,duration", "-of", "json", str(recording)],
                           capture_output=True, text=True)
    assert start.returncode == 0 and start.stderr == "", start.stderr
    shown = json.loads(start.stdout)["format"]
    assert abs(float(shown["start_time"])) < 0.1 and float(shown["duration"]) >= 1.5, shown
    # One remux for the three, one reader of the camera's packets.
    metrics = requests.get(f"{gateway}/metrics", headers=auth(login(gateway, "admin")), timeout=10).text
    assert re.search(r'gateway_camera_fragmenters\{camera="all"\} 1(\.0)?\n', metrics), [l for l in metrics.splitlines() if "fragment" in l]
    assert re.search(r'gateway_camera_fragments_total\{camera="all"\} [1-9]', metrics)
    health = requests.get(f"{gateway}/api/health", headers=auth(token), timeout=10).json()
    assert next(c for c in health["cameras"] if c["id"] == "all")["readers"] == 1
    # The fragmenter is a tap (it cuts on the camera's thread): every view counts it alike.
    assert re.search(r'gateway_camera_readers\{camera="all"\} 1(\.0)?\n', metrics), [l for l in metrics.splitlines() if "readers" in l]
