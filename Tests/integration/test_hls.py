"""HLS and LL-HLS from the gateway, played by ffmpeg; playlists checked against RFC 8216's rules
by a parser; every playlist and segment request authorized."""
import re
import socket
import subprocess
import tempfile
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from conftest import launch, login, make_clip, password, stop

# FFmpeg 5.1's HLS demuxer re-reads the EXT-X-MAP init segment after each playlist reload of a
# live fMP4 stream and the mp4 demuxer then notes the repeated moov; it does so with ffmpeg's own
# live fMP4 HLS output too, so these two lines are not counted as warnings.
DEMUXER_QUIRKS = ("Found duplicated MOOV Atom", "Last message repeated")


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def start(gateway, camera, user="olivia"):
    response = requests.post(f"{gateway.base}/api/cameras/{camera}/stream/start", headers=auth(gateway.login(user)))
    assert response.status_code == 200, response.text
    return gateway.base + response.json()["streamUrl"]


def parse(text):
    """A small RFC 8216 media playlist parser: tags, segments with their parts."""
    lines = text.strip().split("\n")
    assert lines[0] == "#EXTM3U"
    playlist = {"segments": [], "parts": [], "tags": {}}
    pending_parts = []
    duration = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-PART:"):
            attributes = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line[len("#EXT-X-PART:"):]))
            pending_parts.append({"duration": float(attributes["DURATION"]), "uri": attributes["URI"].strip('"'),
                                  "independent": attributes.get("INDEPENDENT") == "YES"})
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",")[0])
        elif line.startswith("#"):
            name, _, value = line[1:].partition(":")
            playlist["tags"].setdefault(name, []).append(value)
        elif line:
            playlist["segments"].append({"uri": line, "duration": duration, "parts": pending_parts})
            pending_parts = []
            duration = None
    playlist["parts"] = pending_parts  # of the segment in progress
    return playlist


def tag(playlist, name):
    return playlist["tags"][name][0]


def check_rules(playlist, low_latency):
    target = int(tag(playlist, "EXT-X-TARGETDURATION"))
    assert playlist["segments"], "no segment"
    for segment in playlist["segments"]:
        assert round(segment["duration"]) <= target, (segment, target)
    assert "EXT-X-MAP" in playlist["tags"] and "EXT-X-PROGRAM-DATE-TIME" in playlist["tags"]
    assert "EXT-X-INDEPENDENT-SEGMENTS" in playlist["tags"]
    if low_latency:
        part_target = float(re.search(r"PART-TARGET=([\d.]+)", tag(playlist, "EXT-X-PART-INF")).group(1))
        assert "CAN-BLOCK-RELOAD=YES" in tag(playlist, "EXT-X-SERVER-CONTROL")
        hold_back = float(re.search(r"PART-HOLD-BACK=([\d.]+)", tag(playlist, "EXT-X-SERVER-CONTROL")).group(1))
        assert hold_back >= 2 * part_target
        assert "EXT-X-PRELOAD-HINT" in playlist["tags"]
        for segment in playlist["segments"]:
            if segment["parts"]:
                assert segment["parts"][0]["independent"]
                assert abs(sum(p["duration"] for p in segment["parts"]) - segment["duration"]) < 0.01
                number = segment["uri"].split("?")[0][len("seg-"):-len(".m4s")]
                assert all(p["uri"].startswith(f"part-{number}-") for p in segment["parts"])  # parts within their segment
        for part in [p for s in playlist["segments"] for p in s["parts"]] + playlist["parts"]:
            assert part["duration"] <= part_target + 0.001
    else:
        assert "EXT-X-PART-INF" not in playlist["tags"] and not any(s["parts"] for s in playlist["segments"])


def ffmpeg_plays(url, seconds):
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "warning", "-i", url, "-t", str(seconds), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=seconds + 60)
    problems = [line for line in result.stderr.splitlines() if not any(q in line for q in DEMUXER_QUIRKS)]
    return result.returncode, problems


@pytest.mark.parametrize("camera,seconds", [("hlscam", 60), ("hlsplain", 15)])
def test_ffmpeg_plays_the_stream_without_errors_or_timestamp_warnings(gateway, camera, seconds):
    url = start(gateway, camera, "olivia" if camera == "hlscam" else "oscar")
    code, problems = ffmpeg_plays(url, seconds)
    assert code == 0 and problems == [], problems
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
                            url.replace("index.m3u8", "master.m3u8")], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and "h264,320,240" in probe.stdout, probe.stderr


@pytest.mark.parametrize("camera,low_latency", [("hlscam", True), ("hlsplain", False)])
def test_playlists_follow_the_rules_and_sequence_numbers_only_grow(gateway, camera, low_latency):
    url = start(gateway, camera, "olivia" if camera == "hlscam" else "oscar")
    previous_sequence = -1
    for _ in range(4):
        response = requests.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert response.headers["Cache-Control"] == "no-cache"
        playlist = parse(response.text)
        check_rules(playlist, low_latency)
        sequence = int(tag(playlist, "EXT-X-MEDIA-SEQUENCE"))
        assert sequence >= previous_sequence
        previous_sequence = sequence
        time.sleep(1.2)
    compressed = requests.get(url, headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["Content-Encoding"] == "gzip" and compressed.text.startswith("#EXTM3U")
    master = requests.get(url.replace("index.m3u8", "master.m3u8")).text
    assert re.search(r'#EXT-X-STREAM-INF:BANDWIDTH=\d+,CODECS="avc1\.[0-9a-f]{6}",RESOLUTION=320x240', master), master


def test_blocking_playlist_reload_waits_for_the_part(gateway):
    url = start(gateway, "hlscam")
    playlist = parse(requests.get(url).text)
    hint = re.search(r"part-(\d+)-(\d+)\.m4s", tag(playlist, "EXT-X-PRELOAD-HINT"))
    msn, part = int(hint.group(1)), int(hint.group(2))
    started = time.time()
    blocked = requests.get(f"{url}&_HLS_msn={msn}&_HLS_part={part}", timeout=10)
    assert blocked.status_code == 200
    assert f"part-{msn}-{part}.m4s" in blocked.text.split("PRELOAD-HINT")[0]
    assert time.time() - started < 2
    # The part the blocked playlist hints at next, as a player preloads it: the next part of the
    # same segment, or the next segment's first part when this one ended with the part waited for.
    following = re.search(r"part-\d+-\d+\.m4s", tag(parse(blocked.text), "EXT-X-PRELOAD-HINT")).group(0)
    assert following in (f"part-{msn}-{part + 1}.m4s", f"part-{msn + 1}-0.m4s"), following
    hinted = requests.get(f"{gateway.base}/hls/hlscam/{following}?" + urlparse(url).query, timeout=10)
    assert hinted.status_code == 200 and hinted.headers["Content-Type"] == "video/iso.segment"
    assert requests.get(f"{url}&_HLS_msn={msn + 10}").status_code == 400


def read_responses(connection, count):
    """`count` HTTP/1.1 responses read off one socket, in the order they came: (status, headers, body)."""
    data, responses = b"", []
    while len(responses) < count:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed after {len(responses)} responses"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(data) < length:
            chunk = connection.recv(65536)
            assert chunk, "the connection closed in a body"
            data += chunk
        responses.append((int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return responses


def immediate_count(gateway, camera):
    return immediate_count_at(gateway.base, gateway.login("admin"), camera)


def immediate_count_at(base, token, camera):
    """`gateway_hls_immediate_requests_total` of a camera (an admin's token)."""
    metrics = requests.get(f"{base}/metrics", headers=auth(token), timeout=10).text
    found = re.search(rf'gateway_hls_immediate_requests_total\{{camera="{camera}"\}} (\d+)', metrics)
    return int(found.group(1)) if found else 0


def test_a_players_repeated_requests_are_answered_at_once_alike_and_in_order(gateway):
    url = start(gateway, "hlsplain", "oscar")
    query = urlparse(url).query
    before = immediate_count(gateway, "hlsplain")
    first, second = requests.get(url), requests.get(url)
    assert first.status_code == second.status_code == 200
    alike = ("Content-Type", "Cache-Control", "Vary", "Server")
    assert [first.headers.get(h) for h in alike] == [second.headers.get(h) for h in alike] and "Date" in second.headers
    segment = f"{gateway.base}/hls/hlsplain/{parse(second.text)['segments'][-1]['uri']}"
    fetched = [requests.get(segment) for _ in range(3)]
    assert all(r.status_code == 200 and r.content == fetched[0].content for r in fetched)
    assert all(r.headers["Content-Length"] == str(len(fetched[0].content)) and "immutable" in r.headers["Cache-Control"] for r in fetched)
    # A gzip-accepting player gets the same playlist compressed (requests decodes it).
    zipped = requests.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("Content-Encoding") == "gzip" and zipped.text.startswith("#EXTM3U")
    assert immediate_count(gateway, "hlsplain") - before >= 3, "no request of the same player was answered at once"
    # Pipelined on one connection: a blocking reload, then a segment the player already had. The
    # segment could be answered at once, but its response must come after the playlist's.
    playlist = parse(requests.get(url).text)
    msn = int(tag(playlist, "EXT-X-MEDIA-SEQUENCE")) + len(playlist["segments"])
    target = urlparse(url)
    with socket.create_connection((target.hostname, target.port), timeout=20) as connection:
        connection.sendall((f"GET {target.path}?{query}&_HLS_msn={msn} HTTP/1.1\r\nHost: x\r\n\r\n"
                            f"GET {urlparse(segment).path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n").encode())
        (status1, headers1, body1), (status2, headers2, body2) = read_responses(connection, 2)
    assert (status1, headers1["content-type"]) == (200, "application/vnd.apple.mpegurl"), body1
    assert body1.startswith(b"#EXTM3U") and any(s["uri"].startswith(f"seg-{msn}.") for s in parse(body1.decode())["segments"])
    assert (status2, headers2["content-type"], body2) == (200, "video/iso.segment", fetched[0].content)


def test_answers_at_once_share_a_connection_with_bodies_split_heads_and_the_router(gateway):
    """The immediate path reads requests off the connection before the HTTP codec: a head split
    across writes is answered once whole; a request with a body, and everything after it on that
    connection, goes to the router, in order."""
    url = start(gateway, "hlsplain", "oscar")
    query = urlparse(url).query
    segment_uri = parse(requests.get(url).text)["segments"][-1]["uri"]
    expected = requests.get(f"{gateway.base}/hls/hlsplain/{segment_uri}").content
    request = f"GET /hls/hlsplain/{segment_uri} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n".encode()
    credentials = b'{"username": "oscar", "password": "%s"}' % password("oscar").encode()
    target = urlparse(url)
    with socket.create_connection((target.hostname, target.port), timeout=20) as connection:
        def split_then_pipelined():
            # One request in three writes; once answered, three back to back.
            for piece in (request[:7], request[7:40], request[40:]):
                connection.sendall(piece)
                time.sleep(0.02)
            responses = read_responses(connection, 1)
            connection.sendall(request * 3)
            responses += read_responses(connection, 3)
            assert [(status, body) for status, _, body in responses] == [(200, expected)] * 4

        # Answers at once need the player's last full request within 1 s; under load a phase may
        # outlast that, so it is tried again after a fresh full request (what a player does).
        for attempt in range(3):
            requests.get(url, headers={"Origin": "http://player.example"})
            before = immediate_count(gateway, "hlsplain")
            split_then_pipelined()
            if immediate_count(gateway, "hlsplain") - before == 4:
                break
        else:
            pytest.fail("a split head and the pipelined requests after it were not answered at once")
        # A body (the login), with segment requests before and after it on the same connection.
        connection.sendall(request + b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           + b"Content-Length: %d\r\n\r\n" % len(credentials) + credentials + request)
        (status1, _, body1), (status2, headers2, body2), (status3, _, body3) = read_responses(connection, 3)
    assert (status1, body1, status3, body3) == (200, expected, 200, expected)
    assert status2 == 200 and b'"token"' in body2, body2
    # An answer is written at once even when what follows it in the same read goes to the codec
    # (here a head with bare LFs, which the codec refuses).
    with socket.create_connection((target.hostname, target.port), timeout=20) as connection:
        connection.sendall(request + b"GET /api/health HTTP/1.1\nHost: x")
        (status, _, body), = read_responses(connection, 1)
    assert (status, body) == (200, expected)
    # The client closes its side after the request: the whole answer still arrives, then the close.
    with socket.create_connection((target.hostname, target.port), timeout=20) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        (status, _, body), = read_responses(connection, 1)
        assert connection.recv(1) == b""
    assert (status, body) == (200, expected)
    # A head past the codec's limit (80 KiB) is the codec's, which drops it: never answered.
    with socket.create_connection((target.hostname, target.port), timeout=3) as connection:
        connection.sendall(b"GET /hls/hlsplain/" + segment_uri.encode() + b" HTTP/1.1\r\nX-Long: " + b"a" * 100000 + b"\r\n\r\n")
        try:
            reply = connection.recv(65536)
        except TimeoutError:
            reply = b""
    assert not reply.startswith(b"HTTP/1.1 2"), reply[:100]
    assert requests.get(url).status_code == 200


def one_camera_gateway(prefix, hls, **server):
    """A gateway of its own: one looping file camera `cam` of oscar's with this HLS sink (and
    these `server` settings)."""
    directory = tempfile.mkdtemp(prefix=prefix)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data", **server},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4},
        "users": [{"username": "oscar", "password": password("oscar"), "role": "admin"}],
        "cameras": [{"id": "cam", "owner": "oscar", "source": {"type": "file", "path": make_clip(directory), "loop": True},
                     "sinks": [{"type": "hls", **hls}]}],
    }
    return launch(directory, config)


def test_a_connection_only_answered_at_once_does_not_hold_up_a_graceful_shutdown():
    """A player's new connection whose requests were all answered before the codec never met
    the codec's handlers (which close idle connections at shutdown): SIGTERM still ends the
    gateway promptly, and the player's connection is closed."""
    process, base, log = one_camera_gateway("gateway-hls-shutdown-", {"segment_duration": 2, "part_duration": 0})
    try:
        token = login(base, "oscar")
        response = requests.post(f"{base}/api/cameras/cam/stream/start", headers=auth(token), timeout=10)
        url = base + response.json()["streamUrl"]
        target = urlparse(url)
        # The first playlist request waits for the camera's first segment; the player's next
        # requests within 1 s of a full one are answered at once (tried again if load made it late).
        requests.get(url, timeout=10)
        for attempt in range(3):
            segment = parse(requests.get(url, timeout=10).text)["segments"][-1]["uri"]
            connection = socket.create_connection((target.hostname, target.port), timeout=20)
            connection.sendall(f"GET /hls/cam/{segment} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            (status, _, _), = read_responses(connection, 1)
            assert status == 200
            metrics = requests.get(f"{base}/metrics", headers=auth(token), timeout=10).text
            if re.search(r'gateway_hls_immediate_requests_total\{camera="cam"\} [1-9]', metrics):
                break
            connection.close()
        else:
            pytest.fail("the segment was never answered at once")
        started = time.time()
        process.terminate()
        process.wait(timeout=10)
        assert time.time() - started < 10
        assert connection.recv(1) == b"", "the player's connection was left open"
        connection.close()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


def test_a_player_on_another_origin_is_answered_at_once_with_the_routers_cors_fields():
    """A browser player on another origin (hls.js on a web app) sends `Origin` with every request.
    Its repeated requests are answered at once like any player's, with the CORS fields the
    router gives: its listed origin with credentials, `Origin` added to the playlist's `Vary`
    (beside `Accept-Encoding`); an origin that is not listed gets no CORS fields on either path."""
    process, base, log = one_camera_gateway("gateway-hls-cors-", {"segment_duration": 2, "part_duration": 0},
                                            cors_origins=["https://console.example"])
    cors = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary")
    try:
        token = login(base, "oscar")
        response = requests.post(f"{base}/api/cameras/cam/stream/start", headers=auth(token), timeout=10)
        url = base + response.json()["streamUrl"]
        session = requests.Session()

        def fetch(url, origin):
            # The router's answer (another query parameter keeps a request off the immediate
            # path), then the plain request within 1 s, tried again if load made it late: each
            # (status, CORS fields, body).
            for attempt in range(3):
                answers = []
                before = immediate_count_at(base, token, "cam")
                for query in ("&via=router", ""):
                    r = session.get(url + query, headers={"Origin": origin}, timeout=10)
                    answers.append((r.status_code, [r.headers.get(h) for h in cors], r.content))
                if immediate_count_at(base, token, "cam") - before == 1:
                    return answers
            pytest.fail(f"{url} from {origin} was never answered at once")

        session.get(url, timeout=10)  # the camera's first segment
        routed, at_once = fetch(url, "https://console.example")
        assert routed[:2] == at_once[:2] == (200, ["https://console.example", "true", "Accept-Encoding, Origin"]), (routed[:2], at_once[:2])
        segment = base + "/hls/cam/" + parse(at_once[2].decode())["segments"][-1]["uri"]
        routed, at_once = fetch(segment, "https://console.example")
        assert routed[0] == at_once[0] == 200 and routed[2] == at_once[2]
        assert routed[1] == at_once[1] == ["https://console.example", "true", "Origin"]
        routed, at_once = fetch(segment, "https://evil.example")
        assert routed[0] == at_once[0] == 200 and routed[1] == at_once[1] == [None, None, None]
    finally:
        stop(process, log)


def test_segments_have_types_ranges_head_and_cache_headers(gateway):
    url = start(gateway, "hlsplain", "oscar")
    playlist = parse(requests.get(url).text)
    base = url.rsplit("/", 1)[0]
    init_uri = re.search(r'URI="([^"]+)"', tag(playlist, "EXT-X-MAP")).group(1)
    init = requests.get(f"{base}/{init_uri}")
    assert init.headers["Content-Type"] == "video/mp4" and init.content[4:8] == b"ftyp"
    segment_url = f"{base}/{playlist['segments'][-1]['uri']}"
    whole = requests.get(segment_url)
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "video/iso.segment"
    assert "immutable" in whole.headers["Cache-Control"] and whole.headers["Accept-Ranges"] == "bytes"
    size = len(whole.content)
    first = requests.get(segment_url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == whole.content[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert requests.get(segment_url, headers={"Range": "bytes=-10"}).content == whole.content[-10:]
    assert requests.get(segment_url, headers={"Range": f"bytes={size - 5}-"}).content == whole.content[-5:]
    unsatisfiable = requests.get(segment_url, headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["Content-Range"] == f"bytes */{size}"
    head = requests.head(segment_url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == size and head.content == b""


def test_every_playlist_and_segment_request_is_authorized(gateway):
    url = start(gateway, "hlscam")
    query = urlparse(url).query
    playlist = parse(requests.get(url).text)
    segment = playlist["segments"][-1]["uri"].split("?")[0]
    base = f"{gateway.base}/hls/hlscam"
    # No credentials at all.
    assert requests.get(f"{base}/index.m3u8").status_code == 401
    assert requests.get(f"{base}/{segment}").status_code == 401
    # A stranger's own token: the camera does not exist for them.
    stranger = auth(gateway.login("sam"))
    assert requests.get(f"{base}/index.m3u8", headers=stranger).status_code == 404
    assert requests.get(f"{base}/{segment}", headers=stranger).status_code == 404
    # A stream token for another camera.
    other = urlparse(start(gateway, "hlsplain", "oscar")).query
    assert requests.get(f"{base}/index.m3u8?{other}").status_code == 401
    assert requests.get(f"{base}/{segment}?{other}").status_code == 401
    # A forged or malformed token.
    assert requests.get(f"{base}/{segment}?token=abc").status_code == 401
    # An API token in the query is not a stream token.
    assert requests.get(f"{base}/{segment}?token={gateway.login('olivia')}").status_code == 401
    # The owner's stream token works on playlists and segments alike.
    assert requests.get(f"{base}/{segment}?{query}").status_code == 200
    # A viewer's access ends when the grant is revoked, at the next request.
    owner = auth(gateway.login("olivia"))
    assert requests.post(f"{gateway.base}/api/cameras/hlscam/shares", headers=owner, json={"username": "victor"}).status_code == 201
    viewer_playlist = requests.get(f"{base}/index.m3u8", headers=auth(gateway.login("victor")))
    assert viewer_playlist.status_code == 200
    viewer_query = urlparse(parse(viewer_playlist.text)["segments"][-1]["uri"]).query
    assert requests.get(f"{base}/{segment}?{viewer_query}").status_code == 200
    assert requests.delete(f"{gateway.base}/api/cameras/hlscam/shares/victor", headers=owner).status_code == 204
    assert requests.get(f"{base}/{segment}?{viewer_query}").status_code == 404
    assert requests.get(f"{base}/index.m3u8?{viewer_query}").status_code == 404
    # A stream token unused for longer than its lifetime (5 s here) has expired.
    stale = urlparse(start(gateway, "hlsplain", "oscar")).query
    time.sleep(6)
    expired = requests.get(f"{gateway.base}/hls/hlsplain/index.m3u8?{stale}")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_on_demand_start_and_idle_shutdown(gateway):
    def hls_events(camera):
        return [e["event"] for e in gateway.events() if e.get("camera") == camera and e["event"] in ("stream.started", "stream.stopped")
                and e.get("details", {}).get("protocol") == "hls"]

    time.sleep(4)  # anything earlier tests started is idle now (idle_timeout 3 s)
    before = hls_events("hlscam")
    assert not before or before[-1] == "stream.stopped"
    url = start(gateway, "hlscam")
    assert requests.get(url).status_code == 200
    assert hls_events("hlscam")[len(before):][:1] == ["stream.started"]
    time.sleep(5)
    assert hls_events("hlscam")[-1] == "stream.stopped"
    # Seed 001's routes and path use the same mechanism.
    seed = requests.post(f"{gateway.base}/startStream", headers=auth(gateway.login("olivia")), json={"cameraId": "hlscam"})
    assert seed.json()["success"] is True
    alias = seed.json()["streamUrl"].replace("/hls/", "/streams/")
    assert requests.get(gateway.base + alias).status_code == 200
    assert requests.post(f"{gateway.base}/stopStream", headers=auth(gateway.login("olivia")), json={"cameraId": "hlscam"}).json() == {"success": True}
    time.sleep(1)
    assert hls_events("hlscam")[-1] == "stream.stopped"
    # A viewer loading the playlist does not restart what an operator stopped.
    share = requests.post(f"{gateway.base}/api/cameras/hlscam/shares", headers=auth(gateway.login("olivia")),
                          json={"username": "victor", "role": "viewer"})
    assert share.status_code == 201
    assert requests.get(f"{gateway.base}/hls/hlscam/index.m3u8", headers=auth(gateway.login("victor")), timeout=30).status_code == 503
    assert hls_events("hlscam")[-1] == "stream.stopped"
    assert requests.delete(f"{gateway.base}/api/cameras/hlscam/shares/victor", headers=auth(gateway.login("olivia"))).status_code == 204
    metrics = requests.get(f"{gateway.base}/metrics", headers=auth(gateway.login("admin"))).text
    assert re.search(r'gateway_hls_requests_total\{camera="hlscam"\} [1-9]', metrics)
    assert re.search(r'gateway_hls_bytes_total\{camera="hlscam"\} [1-9]', metrics)
    assert re.search(r'gateway_hls_players\{camera="hlscam"\} \d', metrics)


def test_a_player_that_leaves_is_no_longer_counted_while_the_stream_runs_on():
    """The HLS idle watch sleeps until something can be due: a player that stops requesting is
    dropped from `gateway_hls_players` once its window (3 segments, at least 6 s) has passed, even
    when the stream itself stays up for a minute and nobody else was playing before."""
    process, base, log = one_camera_gateway("gateway-hls-players-", {"segment_duration": 1, "part_duration": 0, "idle_timeout": 60})

    def players():
        metrics = requests.get(f"{base}/metrics", headers=auth(token), timeout=10).text
        match = re.search(r'gateway_hls_players\{camera="cam"\} (\d+)', metrics)
        return int(match.group(1)) if match else None

    try:
        token = login(base, "oscar")
        url = base + requests.post(f"{base}/api/cameras/cam/stream/start", headers=auth(token), timeout=10).json()["streamUrl"]
        time.sleep(2)
        # The first request waits for a segment; the second comes when the playlist is there
        # and the watch, with nobody playing, sleeps towards the minute of idleness.
        for _ in range(2):
            assert requests.get(url, timeout=30).status_code == 200
            assert players() == 1
            left = time.time()
            while players() != 0 and time.time() - left < 15:
                time.sleep(0.5)
            assert players() == 0, f"the player still counted {time.time() - left:.1f} s after its last request"
            assert time.time() - left >= 5, "dropped before its window had passed"
    finally:
        stop(process, log)
