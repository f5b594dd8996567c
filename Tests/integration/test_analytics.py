"""The analytics API on the PostgreSQL event backend (a new database on the test server), fed by
a scripted session: logins, live viewing over /ws and HLS, a clip, playback of the clip. Viewing
sessions are events with their duration and bytes."""
import json
import re
import time

import requests
import websocket

from conftest import bearer, launch, login, make_clip, new_postgres_database, password


def settings(clip, database):
    return {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in ("admin", "olivia", "victor")],
        "events": [{"type": "log"}, {"type": "postgres", "url": database, "table": "gateway_events", "retention_days": 7}],
        "cameras": [{"id": "porch", "name": "Porch", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "websocket"}, {"type": "hls", "segment_duration": 1, "part_duration": 0},
                               {"type": "clipper", "pre_seconds": 1, "post_seconds": 0.5}]},
                    {"id": "attic", "name": "Attic", "owner": "admin", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "websocket"}]}],
    }


def test_a_session_becomes_analytics_per_camera_and_bucket(tmp_path):
    clip = make_clip(str(tmp_path))
    database = new_postgres_database()
    process, base, log = launch(str(tmp_path), settings(clip, database))
    try:
        olivia, victor, admin = login(base, "olivia"), login(base, "victor"), login(base, "admin")
        assert requests.post(f"{base}/api/cameras/porch/shares", headers=bearer(olivia), json={"username": "victor"}, timeout=10).status_code in (200, 201)
        # Victor watches the porch over /ws for about a second.
        viewer = websocket.create_connection(base.replace("http", "ws") + "/ws/cameras/porch", header=[f"Authorization: Bearer {victor}"], timeout=30)
        started = time.time()
        received = 0
        while time.time() - started < 1.2:
            opcode, data = viewer.recv_data()
            received += len(data) if opcode == websocket.ABNF.OPCODE_BINARY else 0
        viewer.close()
        # Olivia plays the porch over HLS: a playlist and a segment.
        deadline = time.time() + 20
        while True:
            playlist = requests.get(f"{base}/hls/porch/index.m3u8", headers=bearer(olivia), timeout=10)
            if playlist.status_code == 200 or time.time() > deadline:
                break
            time.sleep(0.3)
        assert playlist.status_code == 200, playlist.text
        segment = next(line for line in playlist.text.splitlines() if line and not line.startswith("#"))
        assert requests.get(f"{base}/hls/porch/{segment}", headers=bearer(olivia), timeout=10).status_code == 200
        made = requests.post(f"{base}/api/cameras/porch/clips", headers=bearer(olivia), json={}, timeout=10).json()
        clip_id = (made.get("clip") or made)["id"]
        deadline = time.time() + 20
        while requests.get(f"{base}/api/videos/{clip_id}", headers=bearer(olivia), timeout=10).json().get("status") != "ready":
            assert time.time() < deadline, "the clip did not become ready"
            time.sleep(0.2)
        downloaded = requests.get(f"{base}/api/videos/{clip_id}/stream", headers={**bearer(victor), "Range": "bytes=0-999"}, timeout=10)
        assert downloaded.status_code == 206

        def summary(token, query=""):
            return requests.get(f"{base}/api/analytics/summary{query}", headers=bearer(token), timeout=10)

        deadline = time.time() + 15
        while summary(admin).json()["totals"]["views"] < 1 or summary(admin).json()["totals"]["clips"] < 1:
            assert time.time() < deadline, summary(admin).text
            time.sleep(0.3)
        totals = summary(admin).json()["totals"]
        assert totals["logins"] == 3 and totals["active_users"] == 3, totals
        assert totals["viewing_seconds"] >= 1.0, totals
        porch = next(row for row in summary(admin).json()["cameras"] if row["camera"] == "porch")
        assert porch["views"] >= 1 and porch["clips"] == 1, porch

        # Per bucket: an hour's bucket holds this session.
        response = requests.get(f"{base}/api/analytics/events?bucket=1h&camera=porch", headers=bearer(admin), timeout=10)
        assert response.status_code == 200, response.text
        buckets = response.json()["buckets"]
        assert buckets and all(row["camera"] == "porch" and row["time"].endswith(":00:00.000Z") for row in buckets)
        assert sum(row["clips"] for row in buckets) == 1
        by_type = requests.get(f"{base}/api/analytics/events?bucket=1d&type=user.login", headers=bearer(admin), timeout=10).json()["buckets"]
        assert sum(row["events"] for row in by_type) == 3 and sum(row["logins"] for row in by_type) == 3

        # An owner sees the cameras they own, and no logins; a viewer of a shared camera sees nothing of it.
        mine = summary(olivia).json()
        assert {row["camera"] for row in mine["cameras"]} == {"porch"} and mine["totals"]["logins"] == 0, mine
        assert summary(victor).json()["totals"]["events"] == 0
        assert summary(victor, "?camera=porch").status_code == 403
        assert summary(olivia, "?camera=attic").status_code in (403, 404)

        # Bad queries: 4xx with the one error shape.
        for query, status in [("?bucket=0m", 422), ("?bucket=fortnight", 400), ("?bucket=1m&from=0&to=2000000000", 422),
                              ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", 400), ("?from=1e999", 400)]:
            bad = requests.get(f"{base}/api/analytics/events{query}", headers=bearer(admin), timeout=10)
            assert bad.status_code == status and "error" in bad.json(), (query, bad.status_code, bad.text)
        assert requests.get(f"{base}/api/analytics/events", timeout=10).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    # The viewing sessions, as the log backend wrote them: each with its duration and bytes.
    events = [json.loads(line) for line in open(tmp_path / "data" / "events.jsonl")]
    left = [e for e in events if e["event"] == "viewer.left"]
    ws = next(e for e in left if e["details"]["via"] == "websocket")
    assert ws["actor"] == "victor" and 1.0 <= ws["details"]["duration_seconds"] < 10 and ws["details"]["bytes"] >= received > 0
    hls = next(e for e in left if e["details"]["via"] == "hls")  # ended at shutdown
    assert hls["actor"] == "olivia" and hls["camera"] == "porch" and hls["details"]["bytes"] > 0
    played = [e for e in events if e["event"] == "video.playback_ended"]
    assert played and played[0]["details"] == {**played[0]["details"], "video": clip_id, "via": "http", "bytes": 1000}


def test_without_the_postgres_backend_analytics_answer_409_saying_what_is_needed(gateway):
    response = requests.get(f"{gateway.base}/api/analytics/summary", headers=bearer(gateway.login("admin")), timeout=10)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "analytics_unavailable" and "postgres" in error["message"]
