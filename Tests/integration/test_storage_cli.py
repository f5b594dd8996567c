"""`gateway storage migrate|check`, `storage.wait_for_seconds`, and the deploy/ files (issue 13):
a user starts on SQLite and moves to PostgreSQL without losing an account; a backend that cannot
be reached is one clear line naming it (never its password); the Docker Compose configuration
passes `gateway check-config`."""
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import requests
import yaml

from conftest import BINARY, ROOT, SERVERS, USERS, bearer, launch, login, make_clip, new_postgres_database, password


def write_config(directory, storage, clip=None):
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4, "allow_registration": True},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in USERS[:3]],
        "storage": storage,
    }
    if clip:
        config["cameras"] = [{"id": "porch", "name": "Porch", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                              "sinks": [{"type": "clipper", "pre_seconds": 1, "post_seconds": 1}]}]
    path = os.path.join(directory, "plugins.json")
    with open(path, "w") as handle:
        json.dump(config, handle)
    return config, path


def gateway(*arguments, env=None):
    return subprocess.run([BINARY, *arguments], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def stop(process):
    process.terminate()
    assert process.wait(timeout=30) == 0


def test_a_user_moves_from_sqlite_to_postgres_without_losing_an_account():
    old = tempfile.mkdtemp(prefix="gateway-move-sqlite-")
    clip = make_clip(old)
    config, old_path = write_config(old, {"type": "sqlite"}, clip)
    process, base, _ = launch(old, config)
    olivia = login(base, "olivia")
    registered = requests.post(f"{base}/api/auth/register", json={"username": "newcomer", "password": "newcomer-password"}, timeout=10)
    assert registered.status_code in (200, 201), registered.text
    created = requests.post(f"{base}/api/cameras", headers=bearer(olivia), timeout=10,
                            json={"id": "gate", "name": "Gate", "source": {"type": "rtsp", "url": "rtsp://192.0.2.20/s"}})
    assert created.status_code == 201, created.text
    shared = requests.post(f"{base}/api/cameras/gate/shares", headers=bearer(olivia), json={"username": "victor", "role": "viewer"},
                           timeout=10)
    assert shared.status_code in (200, 201), shared.text
    time.sleep(2.5)
    clip_answer = requests.post(f"{base}/api/cameras/porch/clips", headers=bearer(olivia), json={"label": "moved"}, timeout=10)
    assert clip_answer.status_code == 202, clip_answer.text
    clip_id = clip_answer.json()["clip"]["id"]
    deadline = time.time() + 20
    while requests.get(f"{base}/api/videos/{clip_id}", headers=bearer(olivia), timeout=10).json().get("status") != "ready":
        assert time.time() < deadline, "the clip did not become ready"
        time.sleep(0.3)
    stop(process)

    new = tempfile.mkdtemp(prefix="gateway-move-pg-")
    _, new_path = write_config(new, {"type": "postgres", "url": new_postgres_database()})
    moved = gateway("storage", "migrate", "--from", old_path, "--to", new_path)
    assert moved.returncode == 0, moved.stderr
    counts = dict(line.split(": ", 1) for line in moved.stdout.strip().splitlines())
    assert counts["users"] == "4 copied, 0 already there", moved.stdout
    assert counts["cameras"] == "2 copied, 0 already there", moved.stdout
    assert counts["grants"] == "1 copied, 0 already there", moved.stdout
    assert counts["videos"].endswith("0 already there") and not counts["videos"].startswith("0 "), moved.stdout
    assert "videos: [" in moved.stderr  # the progress lines
    again = gateway("storage", "migrate", "--from", old_path, "--to", new_path)
    assert again.returncode == 0, again.stderr
    assert all(line.split(": ", 1)[1].startswith("0 copied") for line in again.stdout.strip().splitlines()), again.stdout

    config, _ = write_config(new, json.load(open(new_path))["storage"], clip)
    process, base, _ = launch(new, config)
    try:
        token = requests.post(f"{base}/api/auth/login", json={"username": "newcomer", "password": "newcomer-password"}, timeout=10)
        assert token.status_code == 200, "a registered account did not survive the move"
        olivia = login(base, "olivia")
        assert {c["id"] for c in requests.get(f"{base}/api/cameras", headers=bearer(olivia), timeout=10).json()["cameras"]} == {"gate", "porch"}
        victor = login(base, "victor")
        assert [c["id"] for c in requests.get(f"{base}/api/cameras", headers=bearer(victor), timeout=10).json()["cameras"]] == ["gate"]
        video = requests.get(f"{base}/api/videos/{clip_id}", headers=bearer(olivia), timeout=10)
        assert video.status_code == 200 and video.json()["status"] == "ready", video.text
    finally:
        stop(process)

    checked = gateway("storage", "check", new_path)
    assert checked.returncode == 0, checked.stderr
    assert "storage OK" in checked.stdout and "4 users, 2 cameras" in checked.stdout, checked.stdout


def test_an_unreachable_backend_is_one_line_naming_it_without_the_password():
    directory = tempfile.mkdtemp(prefix="gateway-unreachable-")
    _, path = write_config(directory, {"type": "postgres", "url": "postgres://gateway:hunter2-secret@127.0.0.1:1/gateway",
                                       "query_timeout_seconds": 1})
    for arguments in (["storage", "check", path], ["serve", "--config", path]):
        result = gateway(*arguments)
        assert result.returncode == 1, (arguments, result.returncode, result.stderr)
        lines = [line for line in result.stderr.splitlines() if "cannot open the" in line or "cannot open the storage" in line]
        assert lines, result.stderr
        assert "127.0.0.1:1" in lines[0] and "postgres" in lines[0], lines[0]
        assert "hunter2-secret" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr and "Fatal error" not in result.stderr


def test_wait_for_seconds_lets_the_gateway_start_before_its_database(own_postgres):
    database, url = own_postgres
    assert subprocess.run([SERVERS, "postgres-down", database], capture_output=True).returncode == 0
    directory = tempfile.mkdtemp(prefix="gateway-wait-")
    config, _ = write_config(directory, {"type": "postgres", "url": url, "query_timeout_seconds": 1, "wait_for_seconds": 60})
    later = threading.Timer(3, lambda: subprocess.run([SERVERS, "postgres-up", database], capture_output=True))
    later.start()
    started = time.time()
    process, base, log = launch(directory, config)
    try:
        assert time.time() - started >= 2.5, "the gateway started before its database did"
        assert login(base, "olivia")
        log.seek(0)
        assert "storage unavailable; retrying" in log.read()
    finally:
        later.join()
        stop(process)


def test_check_config_validates_backend_options_and_the_compose_configuration():
    directory = tempfile.mkdtemp(prefix="gateway-badstorage-")
    _, path = write_config(directory, {"type": "postgres", "url": "mysql://nope", "pool_size": 0, "tls": "sometimes",
                                       "wait_for_seconds": -1})
    result = gateway("check-config", path)
    assert result.returncode == 2
    for where in ["storage.url", "storage.pool_size", "storage.tls", "storage.wait_for_seconds"]:
        assert where in result.stderr, (where, result.stderr)
    _, path = write_config(directory, {"type": "mongodb", "uri": "http://x", "database": "a.b"})
    result = gateway("check-config", path)
    assert result.returncode == 2 and "storage.uri" in result.stderr and "storage.database" in result.stderr, result.stderr
    config, path = write_config(directory, {"type": "sqlite"})
    config["cache"] = {"type": "redis", "url": "rediss://tls.example", "ttl_seconds": 0, "local_ttl_seconds": 999}
    json.dump(config, open(path, "w"))
    result = gateway("check-config", path)
    assert result.returncode == 2, result.stderr
    for where in ["cache.url", "cache.ttl_seconds", "cache.local_ttl_seconds"]:
        assert where in result.stderr, (where, result.stderr)

    compose = yaml.safe_load(open(os.path.join(ROOT, "deploy", "docker-compose.yml")))
    assert {"gateway", "postgres", "redis", "mongodb", "mosquitto"} <= set(compose["services"])
    assert "./plugins.json:/srv/gateway/plugins.json:ro" in compose["services"]["gateway"]["volumes"]
    checked = gateway("check-config", os.path.join(ROOT, "deploy", "plugins.json"),
                      env={"GATEWAY_JWT_SECRET": "compose-secret-0123456789abcdef0123456789", "POSTGRES_PASSWORD": "pw"})
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout

    # The three-node example (docs/scale-out.md): each node's plugins.json is valid.
    compose = yaml.safe_load(open(os.path.join(ROOT, "deploy", "cluster", "docker-compose.yml")))
    assert {"node1", "node2", "node3", "nginx", "postgres", "redis"} <= set(compose["services"])
    for name in ["node1", "node2", "node3"]:
        environment = dict(compose["services"][name]["environment"])
        environment.update({"GATEWAY_JWT_SECRET": "compose-secret-0123456789abcdef0123456789", "POSTGRES_PASSWORD": "pw"})
        checked = gateway("check-config", os.path.join(ROOT, "deploy", "cluster", "plugins.json"), env=environment)
        assert checked.returncode == 0, (name, checked.stderr)


def test_cluster_configuration_problems_are_named(tmp_path):
    """A cluster needs the postgres storage and a shared JWT secret; its numbers are range-checked,
    every problem reported at once."""
    path = tmp_path / "plugins.json"
    path.write_text(json.dumps({"cluster": {"node_id": "bad id!", "advertise_url": "ftp://x/y", "weight": 0,
                                            "heartbeat_seconds": 5, "lease_seconds": 6}}))
    result = gateway("check-config", str(path))
    assert result.returncode == 2, result.stderr
    for where in ["cluster.node_id", "cluster.advertise_url", "cluster.weight", "cluster.lease_seconds", "auth.jwt_secret"]:
        assert where in result.stderr, (where, result.stderr)
    assert "cluster: needs the postgres storage backend" in result.stderr
