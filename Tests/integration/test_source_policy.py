"""The source policy against real cameras: a user's HTTP camera goes through the gateway's
egress proxy (which checks every connection, redirects included) and a user's RTSP camera
connects to the address that was checked. 127.0.0.2 stands for the camera LAN the admin allows
(`allow_networks`); 127.0.0.1 for the gateway's own host, which users may never reach."""
import http.server
import socket
import tempfile
import threading
import time

import pytest
import requests

from conftest import launch, login, password
from live_servers import HTTPCamera, RTSPServer, free_port
from test_hls import auth

LAN = "127.0.0.2"
LIVE = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
TS = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts"]


class Redirector:
    """An HTTP server on the camera LAN that answers every request with a 302 to `target`."""

    def __init__(self, target):
        self.port = free_port()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((LAN, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{LAN}:{self.port}/cam.ts"

    def stop(self):
        self.server.shutdown()


class TCPServer:
    """Accepts connections on `host` and hands each to `handle` on a thread of its own."""

    def __init__(self, host, handle):
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.handle = handle
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def stop(self):
        self.listener.close()


class RTSPRedirector(TCPServer):
    """An RTSP server on the camera LAN that answers every request with a 302 to `target`."""

    def __init__(self, target):
        self.target = target
        super().__init__(LAN, self.answer)
        self.url = f"rtsp://{LAN}:{self.port}/cam"

    def answer(self, connection):
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                data += chunk
            cseq = next((line.split(b":", 1)[1].strip() for line in data.split(b"\r\n") if line.lower().startswith(b"cseq:")), b"1")
            connection.sendall(b"RTSP/1.0 302 Moved Temporarily\r\nCSeq: " + cseq + b"\r\nLocation: " + self.target.encode() + b"\r\n\r\n")


class Trap(TCPServer):
    """A TCP port on the gateway's own host that counts who connects to it."""

    def __init__(self):
        self.connections = 0
        super().__init__("127.0.0.1", self.count)

    def count(self, connection):
        self.connections += 1
        connection.close()


@pytest.fixture(scope="module")
def policy_gateway():
    directory = tempfile.mkdtemp(prefix="gateway-policy-")
    lan_camera = HTTPCamera(LIVE, TS, "cam.ts", host=LAN).start()
    # `ffmpeg -listen` serves one client at a time: the redirect gets a camera of its own.
    redirected_camera = HTTPCamera(LIVE, TS, "cam.ts", host=LAN).start()
    local_camera = HTTPCamera(LIVE, TS, "cam.ts").start()
    rtsp = RTSPServer(host=LAN).start()
    to_local = Redirector(local_camera.url)
    to_lan = Redirector(redirected_camera.url)
    trap = Trap()
    rtsp_to_local = RTSPRedirector(f"rtsp://127.0.0.1:{trap.port}/cam")
    rtsp_to_lan = RTSPRedirector(rtsp.url)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "policy-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in ["admin", "olivia"]],
        "sources": {"allow_networks": [f"{LAN}/32"]},
    }
    process, base, log = launch(directory, config)
    yield base, log.name, {"lan": lan_camera, "local": local_camera, "rtsp": rtsp, "to_local": to_local, "to_lan": to_lan,
                           "trap": trap, "rtsp_to_local": rtsp_to_local, "rtsp_to_lan": rtsp_to_lan}
    process.terminate()
    process.wait(timeout=30)
    for server in (lan_camera, redirected_camera, local_camera, rtsp, to_local, to_lan, trap, rtsp_to_local, rtsp_to_lan):
        server.stop()


def create(base, token, camera_id, source):
    body = {"id": camera_id, "name": camera_id, "source": {**source, "retry_initial": 0.5, "retry_max": 2, "timeout": 5}, "sinks": [{"type": "websocket"}]}
    return requests.post(f"{base}/api/cameras", headers=auth(token), json=body, timeout=30)


def wait_state(base, token, camera_id, wanted, timeout=20):
    deadline = time.time() + timeout
    camera = {}
    while time.time() < deadline:
        camera = requests.get(f"{base}/api/cameras/{camera_id}", headers=auth(token), timeout=10).json()
        if wanted(camera):
            return camera
        time.sleep(0.2)
    pytest.fail(f"{camera_id} never reached the wanted state: {camera}", pytrace=False)


def test_a_users_http_camera_on_an_allowed_network_plays_through_the_egress_proxy(policy_gateway):
    base, log_path, servers = policy_gateway
    token = login(base, "olivia")
    assert create(base, token, "lan-http", {"type": "http", "url": servers["lan"].url, "format": "mpegts"}).status_code == 201
    camera = wait_state(base, token, "lan-http", lambda c: c.get("state") == "online")
    assert camera["stream"]["codec"] == "h264"
    # Followed through the proxy too: a redirect to another allowed address.
    assert create(base, token, "lan-redirect", {"type": "http", "url": servers["to_lan"].url}).status_code == 201
    wait_state(base, token, "lan-redirect", lambda c: c.get("state") == "online")


def test_a_redirect_to_the_gateways_own_host_is_refused(policy_gateway):
    base, log_path, servers = policy_gateway
    token = login(base, "olivia")
    assert create(base, token, "sneaky", {"type": "http", "url": servers["to_local"].url}).status_code == 201
    camera = wait_state(base, token, "sneaky", lambda c: c.get("last_error") is not None)
    assert servers["to_local"].hits >= 1, "the first hop (allowed) was made"
    time.sleep(3)
    camera = requests.get(f"{base}/api/cameras/sneaky", headers=auth(token), timeout=10).json()
    assert camera["state"] != "online" and camera["stream"] is None
    # The owner learns that it failed, not where it went or what answered.
    assert "127.0.0.1" not in camera["last_error"] and str(servers["local"].port) not in camera["last_error"]
    with open(log_path) as handle:
        assert "egress refused by the source policy" in handle.read()
    # An admin may point a camera anywhere, the gateway's own host included.
    admin = login(base, "admin")
    assert create(base, admin, "admin-local", {"type": "http", "url": servers["local"].url}).status_code == 201
    wait_state(base, admin, "admin-local", lambda c: c.get("state") == "online")


def test_a_users_rtsp_camera_connects_to_the_checked_address(policy_gateway):
    base, _, servers = policy_gateway
    token = login(base, "olivia")
    assert create(base, token, "lan-rtsp", {"type": "rtsp", "url": servers["rtsp"].url}).status_code == 201
    wait_state(base, token, "lan-rtsp", lambda c: c.get("state") == "online")
    refused = create(base, token, "self-rtsp", {"type": "rtsp", "url": f"rtsp://127.0.0.1:{servers['rtsp'].port}/cam"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "source_not_allowed"


def test_an_rtsp_redirect_is_decided_before_it_is_followed(policy_gateway):
    """A user's RTSP server redirecting to the gateway's own host: the gateway never connects
    there (not even a SYN), and says the policy refused it. A redirect to an allowed address is
    followed, to the address that was checked."""
    base, _, servers = policy_gateway
    token = login(base, "olivia")
    assert create(base, token, "rtsp-sneaky", {"type": "rtsp", "url": servers["rtsp_to_local"].url}).status_code == 201
    camera = wait_state(base, token, "rtsp-sneaky", lambda c: c.get("last_error") is not None)
    time.sleep(3)  # a few retries
    camera = requests.get(f"{base}/api/cameras/rtsp-sneaky", headers=auth(token), timeout=10).json()
    assert camera["state"] != "online"
    assert "policy" in camera["last_error"] and "127.0.0.1" not in camera["last_error"], camera["last_error"]
    assert servers["trap"].connections == 0, "the gateway connected to the redirect's refused target"
    assert create(base, token, "rtsp-lan-redirect", {"type": "rtsp", "url": servers["rtsp_to_lan"].url}).status_code == 201
    wait_state(base, token, "rtsp-lan-redirect", lambda c: c.get("state") == "online")


def test_a_huge_range_on_an_hls_init_segment_does_not_take_the_gateway_down(gateway):
    token = gateway.login("olivia")
    # Another test may have stopped the stream (viewers do not restart it; an operator does).
    assert requests.post(f"{gateway.base}/api/cameras/hlscam/stream/start", headers=auth(token), timeout=10).status_code == 200
    playlist = None
    deadline = time.time() + 20
    while time.time() < deadline:
        response = requests.get(f"{gateway.base}/hls/hlscam/index.m3u8", headers=auth(token), timeout=10)
        if response.status_code == 200 and "EXT-X-MAP" in response.text:
            playlist = response.text
            break
        time.sleep(0.3)
    assert playlist, "the HLS playlist never had an init segment"
    init = playlist.split('EXT-X-MAP:URI="')[1].split('"')[0]
    response = requests.get(f"{gateway.base}/hls/hlscam/{init}", headers={**auth(token), "Range": "bytes=0-9223372036854775807"}, timeout=10)
    assert response.status_code == 206
    size = int(response.headers["Content-Range"].split("/")[1])
    assert response.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}" and len(response.content) == size
    assert requests.get(f"{gateway.base}/api/health", timeout=10).status_code == 200
