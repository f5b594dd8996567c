"""The gateway on PostgreSQL (issue 13): a database of its own that a test stops and starts. While
the server is down, requests fail fast with 503 and the API's error shape (never hang); once it
is back, the pool reconnects and the same requests succeed, with nothing lost. The password in
the URL appears in no log and no answer."""
import os
import re
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import SERVERS, bearer, launch, login, password, USERS


def test_requests_fail_fast_while_postgres_is_down_and_work_again_when_it_is_back(own_postgres):
    database, url = own_postgres
    secret = re.search(r"://gateway:([^@]+)@", url).group(1)
    directory = tempfile.mkdtemp(prefix="gateway-pgdown-")
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS],
        "storage": {"type": "postgres", "url": url, "pool_size": 4, "query_timeout_seconds": 2},
    }
    process, base, log = launch(directory, config)
    try:
        token = login(base, "olivia")
        created = requests.post(f"{base}/api/cameras", headers=bearer(token), timeout=10,
                                json={"id": "door", "name": "Door", "source": {"type": "rtsp", "url": "rtsp://192.0.2.10/stream"}})
        assert created.status_code == 201, created.text
        assert [c["id"] for c in requests.get(f"{base}/api/cameras", headers=bearer(token), timeout=10).json()["cameras"]] == ["door"]

        down = subprocess.run([SERVERS, "postgres-down", database], capture_output=True, text=True)
        assert down.returncode == 0, down.stderr
        for path in ["/api/cameras", "/api/cameras/door", "/api/videos"]:
            started = time.monotonic()
            answer = requests.get(f"{base}{path}", headers=bearer(token), timeout=15)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.json()["error"]["code"] == "storage_unavailable"
            assert answer.headers.get("Retry-After")
            assert elapsed < 4, f"{path} took {elapsed:.1f} s with the database down"
            assert secret not in answer.text

        up = subprocess.run([SERVERS, "postgres-up", database], capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 20
        while True:
            answer = requests.get(f"{base}/api/cameras", headers=bearer(token), timeout=15)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert answer.status_code == 200, answer.text
        assert [c["id"] for c in answer.json()["cameras"]] == ["door"]
        assert login(base, "victor")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.seek(0)
        text = log.read()
        log.close()
    assert secret not in text, "the database password appeared in the gateway's log"
    assert re.search(r"warning .*did not answer within 2\.0 s.*storage unavailable", text), "no warning for the requests that failed"
