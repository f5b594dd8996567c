"""Video uploads against the real gateway binary: multipart and resumable (tus) uploads of files
made by ffmpeg, processing to READY or FAILED, HLS played by ffmpeg, thumbnails, limits and
quotas, a restart in the middle of processing, and who may see what."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
from urllib.parse import urlparse

import pytest
import requests
from socketio_client import InOrderClient

from conftest import bearer, chromium, launch, login, password

USERS = ("admin", "olivia", "victor", "oscar")


def settings(**uploads):
    return {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
        "uploads": {"max_bytes": 100_000_000, "workers": 1, "segment_seconds": 2, **uploads},
    }


def ffmpeg(path, *arguments):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments, str(path)], check=True)
    return str(path)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    directory = tmp_path_factory.mktemp("upload-media")
    files = {
        "mp4": ffmpeg(directory / "talk.mp4", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i",
                      "sine=frequency=330:sample_rate=48000", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                      "-pix_fmt", "yuv420p", "-c:a", "aac"),
        "avi": ffmpeg(directory / "old.avi", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10", "-t", "4", "-c:v", "mjpeg",
                      "-q:v", "6", "-pix_fmt", "yuvj420p"),
        "long": ffmpeg(directory / "long.avi", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "40", "-c:v", "mjpeg",
                       "-q:v", "8", "-pix_fmt", "yuvj420p"),
        "hi10": ffmpeg(directory / "hi10.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264",
                       "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"),
        "faststart": ffmpeg(directory / "whole.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "6", "-c:v", "libx264",
                            "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-movflags", "+faststart"),
    }
    text = directory / "notes.mp4"
    text.write_text("meeting notes, not a video\n" * 100)
    files["text"] = str(text)
    whole = open(files["faststart"], "rb").read()
    truncated = directory / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 3])
    files["truncated"] = str(truncated)
    return files


@pytest.fixture
def uploading(tmp_path):
    """A gateway of the test's own; `start(**uploads)` (re)starts it on the same directory."""
    state = {}

    def start(**uploads):
        process, base, log = launch(str(tmp_path), settings(**uploads))
        state.update(process=process, base=base, log=log)
        return base

    def stop(kill=False):
        process = state.pop("process", None)
        if process:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            process.wait(timeout=30)
            state["log"].close()

    yield start, stop, tmp_path
    stop()


def upload(base, token, path, **fields):
    with open(path, "rb") as handle:
        return requests.post(f"{base}/api/videos/upload", headers=bearer(token), files={"video": (os.path.basename(path), handle)},
                             data=fields, timeout=60)


def wait_done(base, token, video_id, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        video = requests.get(f"{base}/api/videos/{video_id}", headers=bearer(token), timeout=10).json()
        if video["status"] in ("ready", "failed"):
            return video
        time.sleep(0.3)
    raise AssertionError(f"{video_id} still {video['status']} after {timeout} s")


def leftovers(directory):
    incoming = os.path.join(directory, "data", "uploads")
    return [name for root, _, names in os.walk(incoming) for name in names]


def probe(url, *options):
    result = subprocess.run(["ffprobe", "-v", "error", *options, "-show_entries", "stream=codec_name,width,height:format=duration",
                             "-of", "json", url], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_mp4_becomes_ready_with_hls_a_thumbnail_and_its_metadata(uploading, media):
    start, _, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    response = upload(base, olivia, media["mp4"], title="Quarterly talk")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "processing" and accepted["progress"] == 0 and accepted["label"] == "Quarterly talk"
    assert "hls_url" not in accepted and "stream_url" not in accepted  # URLs only once ready
    video = wait_done(base, olivia, accepted["id"])
    assert video["status"] == "ready", video
    details = video["details"]
    assert details["video_codec"] == "h264" and details["audio_codec"] == "aac" and "transcoded_from" not in details
    assert (details["width"], details["height"]) == (1280, 720) and abs(video["duration"] - 6) < 0.3
    assert video["progress"] == 100
    # The HLS plays in ffmpeg from the playlist's own token-carrying URIs (no header needed after it).
    playlist = requests.get(base + video["hls_url"], headers=bearer(olivia), timeout=10)
    assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text and "?token=" in playlist.text
    played = subprocess.run(["ffmpeg", "-v", "error", "-headers", f"Authorization: Bearer {olivia}\r\n", "-i", base + video["hls_url"],
                             "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert played.returncode == 0, played.stderr
    hls = probe(base + video["hls_url"], "-headers", f"Authorization: Bearer {olivia}\r\n")
    assert {s["codec_name"] for s in hls["streams"]} == {"h264", "aac"} and abs(float(hls["format"]["duration"]) - 6) < 0.3
    # The thumbnail: a JPEG of at most 640 wide, the aspect kept.
    thumbnail = requests.get(base + video["thumbnail_url"], headers=bearer(olivia), timeout=10)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    jpeg = directory / "thumb.jpg"
    jpeg.write_bytes(thumbnail.content)
    image = probe(str(jpeg))["streams"][0]
    assert (image["codec_name"], image["width"], image["height"]) == ("mjpeg", 640, 360)
    # The MP4 with ranges, its index in front.
    head = requests.get(base + video["stream_url"], headers={**bearer(olivia), "Range": "bytes=0-63"}, timeout=10)
    assert head.status_code == 206 and head.content[4:8] == b"ftyp"
    assert leftovers(directory) == [], "the received file is removed"
    events = [json.loads(line) for line in open(directory / "data" / "events.jsonl")]
    names = [e["event"] for e in events if e.get("details", {}).get("video") == video["id"]]
    assert names[0] == "video.uploaded" and names.index("video.ready") > 0, names


def test_an_mjpeg_avi_is_transcoded_and_plays_and_socketio_plays_the_upload(uploading, media):
    start, _, _ = uploading
    base = start()
    olivia = login(base, "olivia")
    video = wait_done(base, olivia, upload(base, olivia, media["avi"]).json()["id"])
    assert video["status"] == "ready" and video["details"]["transcoded_from"] == "mjpeg", video
    assert abs(video["duration"] - 4) < 0.3
    streams = probe(base + video["stream_url"], "-headers", f"Authorization: Bearer {olivia}\r\n")["streams"]
    assert streams[0]["codec_name"] == "h264" and (streams[0]["width"], streams[0]["height"]) == (640, 480)
    # Every one of the 40 frames decodes, from the MP4 and from the HLS.
    counted = probe(base + video["stream_url"], "-headers", f"Authorization: Bearer {olivia}\r\n", "-count_frames",
                    "-show_entries", "stream=nb_read_frames")["streams"][0]
    assert int(counted["nb_read_frames"]) == 40, counted
    decoded = subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-headers", f"Authorization: Bearer {olivia}\r\n",
                              "-i", base + video["hls_url"], "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr
    # Socket.IO playVideo plays uploads too.
    client = InOrderClient(reconnection=False)
    chunks, ended = [], threading.Event()
    client.on("video:chunk", lambda data: chunks.append(data))
    client.on("video:end", lambda data: ended.set())
    client.connect(base, auth={"token": olivia}, transports=["websocket"], wait_timeout=10)
    ack = client.call("playVideo", {"videoId": video["id"]}, timeout=10)
    assert ack["success"] is True, ack
    assert ended.wait(20) and chunks
    client.disconnect()


def test_h264_browsers_cannot_decode_is_transcoded_not_copied(uploading, media):
    start, _, _ = uploading
    base = start()
    olivia = login(base, "olivia")
    video = wait_done(base, olivia, upload(base, olivia, media["hi10"]).json()["id"])
    assert video["status"] == "ready" and video["details"]["transcoded_from"] == "h264", video
    stream = probe(base + video["stream_url"], "-headers", f"Authorization: Bearer {olivia}\r\n", "-show_entries",
                   "stream=profile,pix_fmt")["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p") and stream["profile"] != "High 10", stream


def test_what_is_not_a_video_is_refused_and_nothing_is_left(uploading, media):
    start, _, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    refused = upload(base, olivia, media["text"])
    assert refused.status_code == 415, refused.text
    assert refused.json()["error"]["code"] == "unsupported_media"
    not_multipart = requests.post(f"{base}/api/videos/upload", headers={**bearer(olivia), "Content-Type": "video/mp4"}, data=b"x", timeout=10)
    assert not_multipart.status_code == 415
    no_file = requests.post(f"{base}/api/videos/upload", headers=bearer(olivia), files={"title": (None, "no video")}, timeout=10)
    assert no_file.status_code == 400 and "video" in no_file.json()["error"]["message"]
    assert requests.get(f"{base}/api/videos/my", headers=bearer(olivia), timeout=10).json()["meta"]["total"] == 0
    assert leftovers(directory) == []


def test_a_truncated_mp4_fails_with_a_reason(uploading, media):
    start, _, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    accepted = upload(base, olivia, media["truncated"])
    assert accepted.status_code == 202, accepted.text
    video = wait_done(base, olivia, accepted.json()["id"])
    assert video["status"] == "failed" and "cut short" in video["error"], video
    failed = [e for e in map(json.loads, open(directory / "data" / "events.jsonl")) if e["event"] == "video.failed"]
    assert [(e["details"]["video"], e["actor"]) for e in failed] == [(video["id"], "olivia")], failed
    assert "cut short" in failed[0]["details"]["error"], failed
    assert requests.get(base + f"/api/videos/{video['id']}/stream", headers=bearer(olivia), timeout=10).status_code == 409
    assert leftovers(directory) == []
    assert not os.path.exists(directory / "data" / "videos" / video["id"])


def test_beyond_the_size_limit_or_the_quota_413_and_no_temporary_file(uploading, media):
    start, _, directory = uploading
    base = start(max_bytes=1_000_000, quota_bytes=1_500_000)
    olivia = login(base, "olivia")
    big = upload(base, olivia, media["mp4"])  # 5 MB
    assert big.status_code == 413 and "limited to 1.0 MB" in big.json()["error"]["message"], big.text
    # Without Content-Length (chunked): refused while it streams in, the partial file removed.
    with open(media["mp4"], "rb") as handle:
        body = handle.read()
    boundary = "b0undary"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"x.mp4\"\r\n\r\n").encode() + body + \
        f"\r\n--{boundary}--\r\n".encode()
    chunked = requests.post(f"{base}/api/videos/upload", headers={**bearer(olivia), "Content-Type": f"multipart/form-data; boundary={boundary}"},
                            data=(payload[i:i + 65536] for i in range(0, len(payload), 65536)), timeout=30)
    assert chunked.status_code == 413, chunked.text
    assert leftovers(directory) == []
    # The quota counts what a user keeps: two 0.57 MB uploads fit in 1.5 MB, a third does not.
    for _ in range(2):
        response = upload(base, olivia, media["faststart"])
        assert response.status_code == 202, response.text
        assert wait_done(base, olivia, response.json()["id"])["status"] == "ready"
    over = upload(base, olivia, media["faststart"])
    assert over.status_code == 413 and "quota" in over.json()["error"]["message"], over.text
    assert leftovers(directory) == []
    # Admins have no quota; and another user has a quota of their own.
    assert upload(base, login(base, "admin"), media["faststart"]).status_code == 202
    assert upload(base, login(base, "victor"), media["faststart"]).status_code == 202


def send_partial_patch(base, token, location, data, declared):
    """A PATCH that promises `declared` bytes, sends `data`, and drops the connection."""
    url = urlparse(base + location)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        head = (f"PATCH {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nAuthorization: Bearer {token}\r\n"
                f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {declared}\r\n\r\n").encode()
        connection.sendall(head + data)
        time.sleep(0.5)


def test_a_dropped_resumable_upload_continues_where_it_stopped(uploading, media):
    start, _, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    body = open(media["mp4"], "rb").read()
    created = requests.post(f"{base}/api/videos/uploads", headers={**bearer(olivia), "Tus-Resumable": "1.0.0", "Upload-Length": str(len(body)),
                            "Upload-Metadata": "title UmVzdW1lZA==,filename dGFsay5tcDQ="}, timeout=10)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    # The connection drops after 1.2 MB of the file.
    sent = 1_200_000
    send_partial_patch(base, olivia, location, body[:sent], len(body))
    deadline = time.time() + 10
    while True:
        offset = int(requests.head(base + location, headers=bearer(olivia), timeout=10).headers["Upload-Offset"])
        if offset == sent or time.time() > deadline:
            break
        time.sleep(0.1)
    assert offset == sent, "the bytes that arrived are kept"
    # Someone else's upload is not found; a wrong offset is a conflict.
    assert requests.head(base + location, headers=bearer(login(base, "victor")), timeout=10).status_code == 404
    wrong = requests.patch(base + location, headers={**bearer(olivia), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                           data=b"x", timeout=10)
    assert wrong.status_code == 409
    done = requests.patch(base + location, headers={**bearer(olivia), "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                          "Content-Type": "application/offset+octet-stream"}, data=body[offset:], timeout=60)
    assert done.status_code == 204 and int(done.headers["Upload-Offset"]) == len(body), done.text
    video = wait_done(base, olivia, done.headers["Upload-Video"])
    assert video["status"] == "ready" and video["label"] == "Resumed" and video["details"]["original_name"] == "talk.mp4"
    assert abs(video["duration"] - 6) < 0.3
    assert leftovers(directory) == []


def test_more_uploads_than_workers_queue_and_all_finish(uploading, media):
    start, _, directory = uploading
    base = start(workers=2)
    olivia = login(base, "olivia")
    results = [None] * 5

    def send(index):
        results[index] = upload(base, olivia, media["avi"] if index % 2 else media["mp4"])

    threads = [threading.Thread(target=send, args=(index,)) for index in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.status_code == 202 for result in results), [r.text for r in results]
    videos = [wait_done(base, olivia, result.json()["id"], timeout=120) for result in results]
    assert all(video["status"] == "ready" for video in videos), videos
    # At most two at once, and two did run at once: the log's starts and ends, in order.
    running, most = 0, 0
    for line in open(directory / "gateway.log"):
        if "processing an upload" in line:
            running += 1
            most = max(most, running)
        elif "upload ready" in line or "upload failed" in line:
            running -= 1
    assert most == 2, most


def test_a_kill_during_processing_resumes_after_the_restart(uploading, media):
    start, stop, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    accepted = upload(base, olivia, media["long"]).json()
    deadline = time.time() + 30
    while requests.get(f"{base}/api/videos/{accepted['id']}", headers=bearer(olivia), timeout=10).json()["progress"] < 5:
        assert time.time() < deadline, "processing did not start"
        time.sleep(0.2)
    stop(kill=True)
    base = start()
    olivia = login(base, "olivia")
    video = wait_done(base, olivia, accepted["id"], timeout=180)
    assert video["status"] == "ready", video
    assert abs(video["duration"] - 40) < 0.5
    progress = [e["details"]["progress"] for e in map(json.loads, open(directory / "data" / "events.jsonl"))
                if e["event"] == "video.progress" and e["details"]["video"] == video["id"]]
    assert progress and all(0 < p < 100 for p in progress), progress
    assert leftovers(directory) == []
    # A processing upload whose file vanished while the gateway was down fails with a reason, and is not stuck.
    second = upload(base, olivia, media["long"]).json()
    stop(kill=True)
    os.remove(directory / "data" / "uploads" / f"{second['id']}.source")
    base = start()
    failed = wait_done(base, login(base, "olivia"), second["id"], timeout=30)
    assert failed["status"] == "failed" and "upload it again" in failed["error"]


def test_who_may_see_an_upload_on_every_route_and_the_pages_of_my_videos(uploading, media):
    start, _, directory = uploading
    base = start()
    olivia, victor, oscar, admin = (login(base, user) for user in ("olivia", "victor", "oscar", "admin"))
    mine = wait_done(base, olivia, upload(base, olivia, media["avi"]).json()["id"])
    # Attached to a camera: seen by those who may see the camera.
    camera = requests.post(f"{base}/api/cameras", headers=bearer(olivia), json={"id": "front", "name": "Front",
                           "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/x"}}, timeout=10)
    assert camera.status_code == 201, camera.text
    assert requests.post(f"{base}/api/cameras/front/shares", headers=bearer(olivia), json={"username": "victor"}, timeout=10).ok
    refused = upload(base, victor, media["avi"], cameraId="front")  # a viewer may not attach uploads
    assert refused.status_code == 403, refused.text
    attached = wait_done(base, olivia, upload(base, olivia, media["avi"], cameraId="front").json()["id"])
    assert attached["camera_id"] == "front"

    def routes(video):
        return [f"/api/videos/{video['id']}", video["stream_url"], video["hls_url"], video["thumbnail_url"],
                f"/api/videos/{video['id']}/hls/segment-0.m4s", f"/api/videos/{video['id']}/hls/init.mp4"]

    for route in routes(mine):
        assert requests.get(base + route, headers=bearer(olivia), timeout=10).status_code in (200, 206), route
        assert requests.get(base + route, headers=bearer(admin), timeout=10).status_code in (200, 206), route
        assert requests.get(base + route, headers=bearer(victor), timeout=10).status_code == 404, route
        assert requests.get(base + route, timeout=10).status_code == 401, route
    for route in routes(attached):
        assert requests.get(base + route, headers=bearer(victor), timeout=10).status_code in (200, 206), route
        assert requests.get(base + route, headers=bearer(admin), timeout=10).status_code in (200, 206), route
        assert requests.get(base + route, headers=bearer(oscar), timeout=10).status_code == 404, route
        assert requests.get(base + route, timeout=10).status_code == 401, route
    for video, allowed, refused in ((mine, olivia, victor), (attached, victor, oscar)):
        assert requests.head(base + video["stream_url"], headers=bearer(allowed), timeout=10).status_code == 200
        assert requests.head(base + video["stream_url"], headers=bearer(refused), timeout=10).status_code == 404
        assert requests.head(base + video["stream_url"], timeout=10).status_code == 401
    # The list of videos shows another user's upload only through a camera they may see.
    listed = lambda token: {v["id"] for v in requests.get(f"{base}/api/videos?limit=100", headers=bearer(token), timeout=10).json()["data"]}
    assert mine["id"] not in listed(victor) and attached["id"] in listed(victor)
    assert not {mine["id"], attached["id"]} & listed(oscar) and {mine["id"], attached["id"]} <= listed(admin)
    # Without credentials nothing about uploads answers; another user's resumable upload does not exist for them.
    assert requests.get(f"{base}/api/videos/my", timeout=10).status_code == 401
    assert requests.post(f"{base}/api/videos/upload", files={"video": ("a.mp4", b"x")}, timeout=10).status_code == 401
    resumable = requests.post(f"{base}/api/videos/uploads", headers={**bearer(olivia), "Tus-Resumable": "1.0.0", "Upload-Length": "100"},
                              timeout=10)
    assert resumable.status_code == 201, resumable.text
    for token in (victor, admin):
        patched = requests.patch(base + resumable.headers["Location"], data=b"x" * 10, timeout=10, headers={
            **bearer(token), "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert patched.status_code == 404, patched.text
        assert requests.head(base + resumable.headers["Location"], headers={**bearer(token), "Tus-Resumable": "1.0.0"},
                             timeout=10).status_code == 404
    assert requests.head(base + resumable.headers["Location"], headers={**bearer(olivia), "Tus-Resumable": "1.0.0"},
                         timeout=10).headers["Upload-Offset"] == "0"
    # A stream token from one video's playlist opens that video's segments only.
    playlist = requests.get(base + mine["hls_url"], headers=bearer(olivia), timeout=10).text
    token = playlist.split("?token=")[1].split('"')[0].split("\n")[0]
    assert requests.get(f"{base}/api/videos/{mine['id']}/hls/segment-0.m4s?token={token}", timeout=10).status_code == 200
    assert requests.get(f"{base}/api/videos/{attached['id']}/hls/segment-0.m4s?token={token}", timeout=10).status_code == 401
    assert requests.delete(f"{base}/api/videos/{attached['id']}", headers=bearer(victor), timeout=10).status_code in (403, 404)
    assert requests.delete(f"{base}/api/videos/{mine['id']}", headers=bearer(victor), timeout=10).status_code == 404
    # Deleting removes the files; an admin may delete anyone's upload.
    assert requests.delete(f"{base}/api/videos/{mine['id']}", headers=bearer(olivia), timeout=10).status_code == 204
    assert requests.get(base + mine["stream_url"], headers=bearer(olivia), timeout=10).status_code == 404
    assert not os.path.exists(directory / "data" / "videos" / mine["id"])
    extra = wait_done(base, olivia, upload(base, olivia, media["avi"], cameraId="front").json()["id"])
    assert requests.delete(f"{base}/api/videos/{extra['id']}", headers=bearer(admin), timeout=10).status_code == 204
    assert requests.get(f"{base}/api/videos/{extra['id']}", headers=bearer(olivia), timeout=10).status_code == 404
    # /api/videos/my: the caller's uploads only, seed 003's page shape and edges.
    page = requests.get(f"{base}/api/videos/my?page=1&limit=10", headers=bearer(olivia), timeout=10).json()
    assert [v["id"] for v in page["data"]] == [attached["id"]] and page["meta"] == {"page": 1, "limit": 10, "total": 1, "totalPages": 1}
    assert requests.get(f"{base}/api/videos/my", headers=bearer(victor), timeout=10).json()["meta"]["total"] == 0
    past = requests.get(f"{base}/api/videos/my?page=5&limit=1", headers=bearer(olivia), timeout=10).json()
    assert past["data"] == [] and past["meta"]["total"] == 1 and past["meta"]["totalPages"] == 1
    for query in ("limit=101", "limit=0", "page=0", "page=x"):
        assert requests.get(f"{base}/api/videos/my?{query}", headers=bearer(olivia), timeout=10).status_code == 400, query


def test_gateway_import_runs_the_same_pipeline_with_a_progress_bar(uploading, media):
    from conftest import BINARY
    start, stop, directory = uploading
    start()
    stop()  # made the config, the users and the storage
    result = subprocess.run([BINARY, "import", media["avi"], media["text"], "--owner", "olivia", "--config", "plugins.json"],
                            cwd=directory, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr  # one of the two is not a video
    assert "%" in result.stdout and "[####" in result.stdout
    assert "old.avi → upl-" in result.stdout and "ready: 4.0 s, h264 (transcoded)" in result.stdout, result.stdout
    assert "notes.mp4: not imported: the file is not a video" in result.stdout
    unknown = subprocess.run([BINARY, "import", media["avi"], "--owner", "nobody", "--config", "plugins.json"], cwd=directory,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
    base = start()
    page = requests.get(f"{base}/api/videos/my", headers=bearer(login(base, "olivia")), timeout=10).json()
    assert page["meta"]["total"] == 1 and page["data"][0]["status"] == "ready" and page["data"][0]["label"] == "old.avi"
    assert os.path.exists(media["avi"]), "the original stays"
    assert leftovers(directory) == []


def test_an_uploads_hls_plays_in_headless_chromium(uploading, media):
    start, _, _ = uploading
    base = start()
    olivia = login(base, "olivia")
    video = wait_done(base, olivia, upload(base, olivia, media["mp4"]).json()["id"])
    assert video["status"] == "ready", video
    driver = chromium()
    try:
        # The gateway's origin with the login cookie: the <video> element loads the playlist with
        # it, and the segments with the stream tokens the playlist carries.
        driver.get(base + "/api/health")
        driver.add_cookie({"name": "gateway_token", "value": olivia, "path": "/"})
        driver.execute_script("""
            const video = document.createElement('video');
            video.id = 'player'; video.muted = true; video.src = arguments[0];
            document.body.appendChild(video); video.play();
        """, base + video["hls_url"])
        deadline = time.time() + 30
        state = {}
        while time.time() < deadline:
            state = driver.execute_script("""
                const v = document.getElementById('player');
                return {time: v.currentTime, width: v.videoWidth, height: v.videoHeight, error: v.error && v.error.message,
                        duration: v.duration};""")
            if state["error"] or state["time"] > 3:
                break
            time.sleep(0.25)
        assert not state["error"] and state["time"] > 3, state
        assert (state["width"], state["height"]) == (1280, 720) and abs(state["duration"] - 6) < 0.5, state
    finally:
        driver.quit()


def test_unfinished_resumable_uploads_count_against_the_quota_and_are_few(uploading, media):
    start, _, _ = uploading
    base = start(quota_bytes=3_000_000)
    olivia = login(base, "olivia")

    def create(length):
        return requests.post(f"{base}/api/videos/uploads", headers={**bearer(olivia), "Tus-Resumable": "1.0.0",
                             "Upload-Length": str(length)}, timeout=10)

    big = create(2_000_000)
    assert big.status_code == 201, big.text
    over = create(1_500_000)  # 2 MB reserved + 1.5 MB > 3 MB, though nothing is stored yet
    assert over.status_code == 413 and "quota" in over.json()["error"]["message"], over.text
    for _ in range(3):
        assert create(100).status_code == 201
    many = create(100)
    assert many.status_code == 429 and "unfinished uploads" in many.json()["error"]["message"], many.text
    # Giving one up frees its place and its share of the quota; others' uploads are theirs.
    assert requests.delete(base + big.headers["Location"], headers=bearer(login(base, "victor")), timeout=10).status_code == 404
    assert requests.delete(base + big.headers["Location"], headers=bearer(olivia), timeout=10).status_code == 204
    assert requests.head(base + big.headers["Location"], headers=bearer(olivia), timeout=10).status_code == 404
    assert create(1_500_000).status_code == 201


def test_a_body_cut_by_a_crash_leaves_no_file_after_the_restart(uploading, media):
    start, stop, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    url = urlparse(base)
    boundary = "cut-by-a-crash"
    head = (f"POST /api/videos/upload HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nAuthorization: Bearer {olivia}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 50000000\r\n\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"big.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(head + open(media["long"], "rb").read()[:3_000_000])
        deadline = time.time() + 10
        while not [n for n in leftovers(directory) if n.startswith("in-")]:
            assert time.time() < deadline, leftovers(directory)
            time.sleep(0.1)
        stop(kill=True)
    assert [n for n in leftovers(directory) if n.startswith("in-")]
    base = start()
    deadline = time.time() + 10
    while leftovers(directory):
        assert time.time() < deadline, leftovers(directory)
        time.sleep(0.1)
    assert requests.get(f"{base}/api/videos/my", headers=bearer(login(base, "olivia")), timeout=10).json()["meta"]["total"] == 0


def test_an_uploaded_playlist_cannot_make_the_server_read_its_files(uploading, media, tmp_path):
    """An HLS playlist naming a file on the server (another user's recording, say) is not a video:
    the probe opens the uploaded file alone, as a video container. Without that, libavformat's HLS
    demuxer reads the named file (local files are allowed to a local playlist) and the upload
    becomes READY with the other file's video."""
    secret = ffmpeg(tmp_path / "secret.ts", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    playlist = tmp_path / "playlist.mp4"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:4.0,\n{secret}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile {os.path.basename(secret)}\n")
    start, _, directory = uploading
    base = start()
    olivia = login(base, "olivia")
    for path in (playlist, concat):
        refused = upload(base, olivia, str(path))
        assert refused.status_code == 415, refused.text
    assert requests.get(f"{base}/api/videos/my", headers=bearer(olivia), timeout=10).json()["meta"]["total"] == 0
    assert leftovers(directory) == []
