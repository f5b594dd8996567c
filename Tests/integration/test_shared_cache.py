"""Two gateway processes sharing one PostgreSQL database and one Redis cache (issue 13): a grant
given or revoked through one is seen by the other at once, on its HLS segments and API — the
other process's cached copies are dropped by the invalidation message, not by a TTL."""
import json
import os
import threading
import time

import pytest
import requests
import websocket

from conftest import USERS, bearer, launch, login, make_clip, new_postgres_database, password


def test_a_revocation_through_one_gateway_reaches_viewers_of_the_other(tmp_path):
    redis = os.environ.get("GATEWAY_TEST_REDIS_URL")
    if not redis:
        pytest.fail("GATEWAY_TEST_REDIS_URL is not set: run `scripts/test-servers.sh start && source .test-servers/env`", pytrace=False)
    database = new_postgres_database()
    clip = make_clip(str(tmp_path))
    processes = []
    bases = []
    for name in ("a", "b"):
        directory = str(tmp_path / name)
        os.makedirs(directory)
        config = {
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
            "auth": {"jwt_secret": "shared-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
            "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS[:3]],
            "storage": {"type": "postgres", "url": database},
            # A long TTL: only the invalidation message can make the other process forget.
            "cache": {"type": "redis", "url": redis, "ttl_seconds": 3600, "local_ttl_seconds": 60},
            "cameras": [{"id": "hall", "name": "Hall", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                         "sinks": [{"type": "hls", "segment_duration": 1, "part_duration": 0, "idle_timeout": 60},
                                   {"type": "websocket"}]}],
        }
        process, base, _ = launch(directory, config)
        processes.append(process)
        bases.append(base)
    a, b = bases
    try:
        olivia_a = login(a, "olivia")
        victor_b = login(b, "victor")
        # victor asks gateway B before any grant: cached there as "no grant".
        assert requests.get(f"{b}/api/cameras/hall", headers=bearer(victor_b), timeout=10).status_code == 404
        shared = requests.post(f"{a}/api/cameras/hall/shares", headers=bearer(olivia_a), json={"username": "victor", "role": "viewer"},
                               timeout=10)
        assert shared.status_code in (200, 201), shared.text
        deadline = time.monotonic() + 3
        while requests.get(f"{b}/api/cameras/hall", headers=bearer(victor_b), timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "gateway B kept the cached 'no grant' after A shared the camera"
            time.sleep(0.05)
        # victor watches on B: HLS segments, each authorized.
        started = requests.post(f"{b}/api/cameras/hall/stream/start", headers=bearer(login(b, "olivia")), json={}, timeout=10).json()
        playlist = None
        for _ in range(100):
            answer = requests.get(f"{b}/hls/hall/index.m3u8", headers=bearer(victor_b), timeout=15)
            if answer.status_code == 200 and "seg-" in answer.text:
                playlist = answer.text
                break
            time.sleep(0.2)
        assert playlist, started
        segment = [line.split("?")[0] for line in playlist.splitlines() if line.startswith("seg-")][-1]
        assert requests.get(f"{b}/hls/hall/{segment}", headers=bearer(victor_b), timeout=10).status_code == 200
        # …and live over /ws on B, open while the grant is revoked on A.
        token = requests.post(f"{b}/api/cameras/hall/stream/token", headers=bearer(victor_b), timeout=10).json()
        ws = websocket.create_connection(b.replace("http", "ws") + token["websocket_url"], timeout=10)
        assert json.loads(ws.recv())["type"] == "init"
        closed = {}

        def read_until_closed():
            try:
                while True:
                    opcode, data = ws.recv_data(control_frame=True)
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        closed["code"] = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                        closed["at"] = time.monotonic()
                        return
            except Exception:
                closed.setdefault("at", time.monotonic())

        reader = threading.Thread(target=read_until_closed, daemon=True)
        reader.start()

        revoked = requests.delete(f"{a}/api/cameras/hall/shares/victor", headers=bearer(olivia_a), timeout=10)
        assert revoked.status_code in (200, 204), revoked.text
        started_at = time.monotonic()
        while True:
            status = requests.get(f"{b}/hls/hall/{segment}", headers=bearer(victor_b), timeout=10).status_code
            if status in (403, 404):
                break
            assert time.monotonic() - started_at < 2, f"gateway B still served segments {time.monotonic() - started_at:.1f} s after the revocation"
            time.sleep(0.05)
        assert requests.get(f"{b}/api/cameras/hall", headers=bearer(victor_b), timeout=10).status_code == 404
        reader.join(timeout=5)
        assert closed.get("code") == 4403, closed
        assert closed["at"] - started_at < 2, f"B's open stream ended {closed['at'] - started_at:.1f} s after the revocation on A"
        ws.close()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
