"""Live cameras read in-process: RTSP from GStreamer's RTSP server, HTTP MJPEG / MPEG-TS / raw
H.264 from `ffmpeg -listen`, USB through libavdevice (a missing device; the lavfi virtual input).
What a user sees is checked: /api/health, HLS played by ffmpeg, fMP4 over WebSocket decoded by
ffprobe, events, and that no credential reaches the API or the log."""
import glob
import json
import os
import subprocess
import tempfile
import time

import pytest
import requests
import websocket

from conftest import BINARY, launch, make_clip, password
from live_servers import HTTPCamera, RTSPServer
from test_hls import DEMUXER_QUIRKS, auth, parse

RTSP_PASSWORD = "s3cret-Pa55"
RETRY = {"retry_initial": 0.5, "retry_max": 2}
SINKS = ({"type": "hls", "segment_duration": 2, "part_duration": 0, "idle_timeout": 30}, {"type": "websocket"})
WITH_MJPEG = (*SINKS, {"type": "mjpeg"})
LIVE_PATTERN = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
LIVE_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="module")
def servers():
    directory = tempfile.mkdtemp(prefix="gateway-live-")
    clip = make_clip(directory)
    def agents(name):
        """Where the server notes the User-Agent of each DESCRIBE: which client read it."""
        return ["--agents", os.path.join(directory, f"agents-{name}.txt")]

    started = {
        "h264": RTSPServer("--audio", *agents("h264")).start(),
        "h265": RTSPServer("--codec", "h265", *agents("h265")).start(),
        "g711": RTSPServer("--audio", "pcmu", *agents("g711")).start(),
        "locked": RTSPServer("--user", "viewer", "--password", RTSP_PASSWORD, *agents("locked")).start(),
        "digest": RTSPServer("--user", "viewer", "--password", RTSP_PASSWORD, "--digest", "--audio", *agents("digest")).start(),
        "flappy": RTSPServer(),
        # A lossy link: 3 % of the video's RTP packets never leave the server.
        "lossy": RTSPServer("--loss", "3", *agents("lossy")).start(),
        "mjpeg": HTTPCamera(["-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10"],
                            ["-c:v", "mjpeg", "-q:v", "6", "-f", "mpjpeg"], "video.mjpg").start(),
        # Encoded as they are served (ffmpeg 5.1 cannot loop a file through h264_mp4toannexb).
        "mpegts": HTTPCamera(LIVE_PATTERN, ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25",
                                            "-pix_fmt", "yuv420p", "-profile:v", "main", "-f", "mpegts"], "live.ts").start(),
        # A bare H.264 elementary stream carries no timestamps at all.
        "nopts": HTTPCamera(LIVE_PATTERN, [*LIVE_H264, "-f", "h264"], "raw.h264").start(),
    }
    started["flappy"].start()
    yield directory, clip, started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def live(servers):
    directory, clip, started = servers

    def camera(camera_id, source, sinks=SINKS):
        return {"id": camera_id, "owner": "olivia", "source": {**source, **RETRY}, "sinks": list(sinks)}

    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in ("admin", "olivia")],
        "cameras": [
            camera("rtsp264", {"type": "rtsp", "url": started["h264"].url, "timeout": 3}, WITH_MJPEG),
            camera("rtsp265", {"type": "rtsp", "url": started["h265"].url, "transport": "auto"}),
            camera("rtspg711", {"type": "rtsp", "url": started["g711"].url}),
            camera("flappy", {"type": "rtsp", "url": started["flappy"].url, "timeout": 2}),
            camera("lossy", {"type": "rtsp", "url": started["lossy"].url, "transport": "udp"}),
            camera("wrongpass", {"type": "rtsp", "url": started["locked"].url, "user": "viewer", "password": "not-" + RTSP_PASSWORD}),
            camera("rightpass", {"type": "rtsp", "url": started["locked"].url.replace("rtsp://", f"rtsp://viewer:{RTSP_PASSWORD}@")}),
            camera("digest", {"type": "rtsp", "url": started["digest"].url, "user": "viewer", "password": RTSP_PASSWORD, "client": "native"}),
            camera("rtspffmpeg", {"type": "rtsp", "url": started["h264"].url, "client": "ffmpeg"}),
            camera("mjpeg", {"type": "http", "url": started["mjpeg"].url, "format": "mjpeg", "transcode": {"width": 320}}, WITH_MJPEG),
            camera("mpegts", {"type": "http", "url": started["mpegts"].url}),
            camera("nopts", {"type": "http", "url": started["nopts"].url, "format": "h264"}),
            camera("nodevice", {"type": "usb", "device": "/dev/video-missing"}),
            camera("virtual", {"type": "usb", "driver": "lavfi", "device": "testsrc2=size=640x360:rate=25"}),
            camera("ondemand", {"type": "file", "path": clip, "loop": True, "on_demand": True, "idle_timeout": 1.5}),
        ],
    }
    process, base, log = launch(tempfile.mkdtemp(prefix="gateway-live-gw-"), config)

    class Live:
        pass
    gateway = Live()
    gateway.base, gateway.log_path, gateway.servers, gateway.clip = base, log.name, started, clip
    gateway.token = requests.post(f"{base}/api/auth/login", json={"username": "admin", "password": password("admin")}).json()["token"]
    yield gateway
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the gateway did not stop within 30 s of SIGTERM", pytrace=False)
    log.close()


def health(gateway, camera_id, timeout=5):
    response = requests.get(f"{gateway.base}/api/health", headers=auth(gateway.token), timeout=timeout)
    assert response.status_code == 200
    return next(c for c in response.json()["cameras"] if c["id"] == camera_id)


def wait_for(gateway, camera_id, condition, timeout=30):
    deadline = time.time() + timeout
    while True:
        state = health(gateway, camera_id)
        if condition(state):
            return state
        if time.time() > deadline:
            pytest.fail(f"{camera_id} never got there; last health: {state}", pytrace=False)
        time.sleep(0.2)


def hls_url(gateway, camera_id):
    response = requests.post(f"{gateway.base}/api/cameras/{camera_id}/stream/start", headers=auth(gateway.token))
    assert response.status_code == 200, response.text
    return gateway.base + response.json()["streamUrl"]


def probe_streams(url):
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,profile,width,height", "-of", "json", url],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout)["streams"]


def plays(url, seconds=4):
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "warning", "-i", url, "-t", str(seconds), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=seconds + 60)
    problems = [line for line in result.stderr.splitlines() if not any(q in line for q in DEMUXER_QUIRKS)]
    assert result.returncode == 0 and problems == [], problems


def websocket_frames(gateway, camera_id, tmp_path, gops=2):
    """The init segment and the first `gops` whole GOPs from /ws/cameras/ID (its parts, told apart
    by the `keyframe` of the timing frames `?timing=1` adds), decoded."""
    ws = websocket.create_connection(gateway.base.replace("http", "ws") + f"/ws/cameras/{camera_id}?timing=1",
                                     header=[f"Authorization: Bearer {gateway.token}"], timeout=20)
    meta = json.loads(ws.recv())
    assert meta["type"] == "init"
    received = [bytes(ws.recv_data()[1])]
    keyframes, timing = 0, None
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            timing = json.loads(data)
            continue
        assert timing is not None and timing["type"] == "fragment"
        keyframes += timing["keyframe"]
        if keyframes > gops:
            break
        received.append(bytes(data))
        timing = None
    ws.close()
    path = tmp_path / f"{camera_id}.mp4"
    path.write_bytes(b"".join(received))
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    codec, frames = probe.stdout.strip().split(",")
    return meta, codec, int(frames)


def test_rtsp_h264_with_aac_is_copied_to_hls_and_websocket(live, tmp_path):
    state = wait_for(live, "rtsp264", lambda c: c["state"] == "online")
    assert (state["codec"], state["audio_codec"], state["width"], state["height"]) == ("h264", "aac", 640, 360)
    url = hls_url(live, "rtsp264")
    plays(url)
    streams = probe_streams(url.replace("index.m3u8", "master.m3u8"))
    assert [(s["codec_name"], s.get("profile")) for s in streams] == [("h264", "Constrained Baseline"), ("aac", "LC")]
    meta, codec, frames = websocket_frames(live, "rtsp264", tmp_path)
    assert meta["codecs"].startswith("avc1.42") and "mp4a.40.2" in meta["codecs"]
    assert codec == "h264" and frames == 100  # two GOPs of 2 s at 25 fps


def agents_of(live, name):
    directory = live.servers["h264"].arguments[live.servers["h264"].arguments.index("--agents") + 1].rsplit("/", 1)[0]
    with open(os.path.join(directory, f"agents-{name}.txt")) as lines:
        return {line.strip() for line in lines}


def test_rtsp_over_tcp_is_read_by_the_gateway_own_client_and_the_rest_by_libavformat(live):
    """RTP over TCP is read by the gateway's own RTSP client by default (and with `client:
    native`), Digest authentication included; UDP and `client: ffmpeg` go through libavformat. The servers note
    each DESCRIBE's User-Agent."""
    for camera_id in ("rtsp264", "rtsp265", "rtspg711", "rightpass", "digest", "rtspffmpeg", "lossy"):
        wait_for(live, camera_id, lambda c: c["state"] == "online")
    for name in ("h265", "g711", "locked"):
        assert agents_of(live, name) == {"camera-gateway"}, name
    # rtsp264 natively, rtspffmpeg (the same server) through libavformat.
    h264 = agents_of(live, "h264")
    assert len(h264) == 2 and "camera-gateway" in h264 and any(agent.startswith("Lavf") for agent in h264), h264
    lossy = agents_of(live, "lossy")
    assert lossy and all(agent.startswith("Lavf") for agent in lossy), lossy
    assert agents_of(live, "digest") == {"camera-gateway"}


def test_rtsp_with_digest_authentication_plays_with_its_audio(live):
    state = wait_for(live, "digest", lambda c: c["state"] == "online")
    assert (state["codec"], state["audio_codec"], state["width"], state["height"]) == ("h264", "aac", 640, 360)
    plays(hls_url(live, "digest"))


def test_rtsp_h265_is_copied(live):
    state = wait_for(live, "rtsp265", lambda c: c["state"] == "online")
    assert state["codec"] == "hevc"
    url = hls_url(live, "rtsp265")
    assert [s["codec_name"] for s in probe_streams(url.replace("index.m3u8", "master.m3u8"))] == ["hevc"]


def test_rtsp_g711_audio_becomes_aac_and_the_video_is_copied(live):
    state = wait_for(live, "rtspg711", lambda c: c["state"] == "online" and c["audio_codec"] is not None)
    assert (state["codec"], state["audio_codec"]) == ("h264", "aac")
    url = hls_url(live, "rtspg711")
    plays(url)
    streams = probe_streams(url.replace("index.m3u8", "master.m3u8"))
    assert [(s["codec_name"], s.get("profile")) for s in streams] == [("h264", "Constrained Baseline"), ("aac", "LC")]


def test_rtsp_over_udp_with_packet_loss_keeps_playing_and_counts_the_loss(live):
    """RTP over UDP losing 3 % of the video packets: the camera stays online without reconnecting,
    HLS plays on (the player's decoder conceals the damaged frames), and the loss is counted."""
    wait_for(live, "lossy", lambda c: c["state"] == "online")
    reconnects = health(live, "lossy")["reconnects"]
    url = hls_url(live, "lossy")
    seconds = 8
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url, "-t", str(seconds),
                             "-progress", "pipe:1", "-f", "null", "-"], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    frames = max(int(line.split("=")[1]) for line in result.stdout.splitlines() if line.startswith("frame="))
    assert frames >= seconds * 25 * 0.8, f"{frames} frames in {seconds} s"
    state = health(live, "lossy")
    assert state["state"] == "online" and state["reconnects"] == reconnects, state
    metrics = requests.get(f"{live.base}/metrics", headers=auth(live.token)).text
    lost = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("gateway_camera_packets_lost_total") and 'camera="lossy"' in line]
    assert lost and lost[0] > 0, [line for line in metrics.splitlines() if "lost" in line]
    # A camera on a clean link loses nothing.
    clean = [line for line in metrics.splitlines()
             if line.startswith("gateway_camera_packets_lost_total") and 'camera="rtsp264"' in line]
    assert all(line.endswith(" 0") or line.endswith(" 0.0") for line in clean), clean


def test_rtsp_server_killed_then_restarted(live):
    server = live.servers["flappy"]
    wait_for(live, "flappy", lambda c: c["state"] == "online")
    url = hls_url(live, "flappy")
    plays(url, 2)
    before = health(live, "flappy")["reconnects"]
    server.kill()
    started = time.time()
    state = wait_for(live, "flappy", lambda c: c["state"] == "reconnecting", timeout=15)
    assert state["reconnects"] > before and state["last_error"], state
    time.sleep(3)  # a few failed attempts while the server is down; the API stays responsive
    down = health(live, "flappy", timeout=2)
    assert down["state"] == "reconnecting" and "connection refused" in down["last_error"], down
    assert time.time() - started < 20
    server.start()
    wait_for(live, "flappy", lambda c: c["state"] == "online", timeout=20)
    # The HLS stream goes on across the reconnect: a discontinuity, then new media that plays.
    deadline = time.time() + 20
    while "EXT-X-DISCONTINUITY" not in (playlist := requests.get(url).text) and time.time() < deadline:
        time.sleep(0.5)
    assert "EXT-X-DISCONTINUITY" in playlist, playlist
    plays(url, 3)


def test_a_stalled_rtsp_server_is_interrupted_after_the_timeout(live):
    server = live.servers["flappy"]
    wait_for(live, "flappy", lambda c: c["state"] == "online", timeout=30)
    server.pause()
    try:
        started = time.time()
        state = wait_for(live, "flappy", lambda c: c["state"] == "reconnecting", timeout=15)
        assert "no data for 2.0 seconds" in state["last_error"] or "no answer" in state["last_error"], state
        assert time.time() - started < 8  # timeout 2 s, not a hang
    finally:
        server.resume()
    wait_for(live, "flappy", lambda c: c["state"] == "online", timeout=30)


def test_wrong_rtsp_credentials_give_a_clear_error_and_stay_secret(live):
    state = wait_for(live, "wrongpass", lambda c: c["reconnects"] >= 2)
    assert state["state"] == "reconnecting"
    assert "401 Unauthorized" in state["last_error"] and "refused the credentials" in state["last_error"], state
    wait_for(live, "rightpass", lambda c: c["state"] == "online")
    for camera_id in ("wrongpass", "rightpass"):
        text = requests.get(f"{live.base}/api/cameras/{camera_id}", headers=auth(live.token)).text
        assert RTSP_PASSWORD not in text, text
    with open(live.log_path) as handle:
        log = handle.read()
    assert RTSP_PASSWORD not in log
    events = open(os.path.join(os.path.dirname(live.log_path), "data", "events.jsonl")).read()
    assert RTSP_PASSWORD not in events and '"camera":"wrongpass"' in events


def test_http_mjpeg_is_transcoded_once_to_h264(live, tmp_path):
    state = wait_for(live, "mjpeg", lambda c: c["state"] == "online" and c["packets"] > 20)
    assert (state["codec"], state["width"], state["height"]) == ("h264", 320, 240)
    assert 7 <= state["fps"] <= 13  # the camera's 10 fps, timed by arrival
    url = hls_url(live, "mjpeg")
    plays(url)
    playlist = parse(requests.get(url).text)
    # A keyframe every 2 s (gop_seconds), so 2 s segments.
    assert all(1.7 <= s["duration"] <= 2.3 for s in playlist["segments"]), playlist["segments"]
    meta, codec, frames = websocket_frames(live, "mjpeg", tmp_path)
    assert codec == "h264" and 36 <= frames <= 46, frames  # two GOPs of 2 s at 10 fps
    with open(live.log_path) as handle:
        transcodes = [line for line in handle if "transcoding to H.264" in line]
    assert len([line for line in transcodes if "camera=mjpeg" in line]) == 1, transcodes  # once per session, not per viewer


def test_mjpeg_passthrough_serves_the_cameras_own_jpegs(live, tmp_path):
    wait_for(live, "mjpeg", lambda c: c["state"] == "online")
    url = f"{live.base}/api/cameras/mjpeg/mjpeg"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(f"{live.base}/api/cameras/mpegts/mjpeg", headers=auth(live.token), timeout=10).status_code == 404
    wait_for(live, "rtsp264", lambda c: c["state"] == "online")
    refused = requests.get(f"{live.base}/api/cameras/rtsp264/mjpeg", headers=auth(live.token), timeout=10)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_mjpeg"
    # A stream token from stream/start works where headers cannot be sent (<img src>).
    token = hls_url(live, "mjpeg").split("token=")[1]
    with requests.get(f"{url}?token={token}", stream=True, timeout=10) as response:
        assert response.status_code == 200
        boundary = response.headers["Content-Type"].split("boundary=")[1]
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = b""
        frames = []
        chunks = response.iter_content(chunk_size=65536)
        while len(frames) < 5:
            data += next(chunks)
            while True:
                head_end = data.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = data[:head_end].decode()
                assert head.startswith(f"--{boundary}\r\n") and "Content-Type: image/jpeg" in head
                length = int(head.split("Content-Length: ")[1].split("\r\n")[0])
                if len(data) < head_end + 4 + length + 2:
                    break
                frames.append(data[head_end + 4:head_end + 4 + length])
                data = data[head_end + 4 + length + 2:]
    assert all(f[:2] == b"\xff\xd8" and f[-2:] == b"\xff\xd9" for f in frames)
    path = tmp_path / "frame.jpg"
    path.write_bytes(frames[-1])
    # The camera's own 640x480 JPEG, not the 320x240 H.264 made from it.
    assert probe_streams(str(path)) == [{"codec_name": "mjpeg", "profile": "Baseline", "width": 640, "height": 480}]


def test_http_mpegts_is_copied_without_transcoding(live):
    state = wait_for(live, "mpegts", lambda c: c["state"] == "online")
    assert (state["codec"], state["width"], state["height"]) == ("h264", 320, 240)
    url = hls_url(live, "mpegts")
    plays(url)
    # The camera's Main profile arrives as it is (the gateway's own encode would be High).
    assert [s.get("profile") for s in probe_streams(url.replace("index.m3u8", "master.m3u8"))] == ["Main"]
    with open(live.log_path) as handle:
        assert not any("transcoding" in line and "camera=mpegts" in line for line in handle)


def test_a_camera_without_timestamps_is_timed_by_the_wall_clock(live):
    state = wait_for(live, "nopts", lambda c: c["state"] == "online" and c["packets"] > 50)
    assert 20 <= state["fps"] <= 30, state
    url = hls_url(live, "nopts")
    plays(url, 5)
    time.sleep(3)
    segments = parse(requests.get(url).text)["segments"][1:]  # the first may hold one GOP more
    assert len(segments) >= 2
    # Segments of whole 1 s GOPs (-g 25 at 25 fps; 2 s, or 3 when two GOPs came out a slot
    # short of 2 s): arrival time keeps the camera's pace.
    durations = [s["duration"] for s in segments]
    assert all(1.9 <= d <= 3.1 and abs(d - round(d)) <= 0.1 for d in durations), durations


def test_usb_devices_are_listed_and_a_missing_one_keeps_retrying(live):
    listed = subprocess.run([BINARY, "devices", "--json"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    devices = json.loads(listed.stdout)
    capture_nodes = glob.glob("/dev/video*")
    if not capture_nodes:
        assert devices == []
        text = subprocess.run([BINARY, "devices"], capture_output=True, text=True, timeout=30).stdout
        assert "no capture devices found" in text
    for device in devices:
        assert device["device"] in capture_nodes and device["formats"], device
    state = wait_for(live, "nodevice", lambda c: c["reconnects"] >= 2)
    assert state["state"] == "reconnecting"
    assert state["last_error"] == "usb: no capture device at /dev/video-missing (`gateway devices` lists the ones present)"


def test_usb_capture_path_through_the_lavfi_virtual_device(live):
    state = wait_for(live, "virtual", lambda c: c["state"] == "online" and c["packets"] > 25)
    assert (state["codec"], state["width"], state["height"]) == ("h264", 640, 360)
    assert 20 <= state["fps"] <= 30, state  # paced like a camera, not as fast as it renders
    url = hls_url(live, "virtual")
    plays(url)


def test_on_demand_source_connects_for_a_viewer_and_leaves_when_idle(live, tmp_path):
    assert wait_for(live, "ondemand", lambda c: c["state"] == "idle")["packets"] == 0
    meta, codec, frames = websocket_frames(live, "ondemand", tmp_path)
    assert codec == "h264" and frames == 50
    assert health(live, "ondemand")["state"] == "online"
    started = time.time()
    wait_for(live, "ondemand", lambda c: c["state"] == "idle", timeout=10)
    assert time.time() - started >= 1.0  # the idle timeout, not at once
    events = [json.loads(line) for line in open(os.path.join(os.path.dirname(live.log_path), "data", "events.jsonl"))]
    changes = [e["details"] for e in events if e["event"] == "camera.state_changed" and e["camera"] == "ondemand"]
    assert [c["to"] for c in changes][:3] == ["idle", "online", "idle"], changes
    assert all(c["reason"] for c in changes)
    # HLS is a viewer too.
    url = hls_url(live, "ondemand")
    plays(url, 2)
    assert health(live, "ondemand")["state"] == "online"
