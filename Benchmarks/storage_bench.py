"""Storage backends under the API: requests per second on each backend, with and without the
Redis cache, measured in one run with wrk against the release gateway.

- API: `GET /api/cameras/{id}` as a user the camera is shared with (token check, camera lookup,
  grant lookup, the answer) — login excluded.
- HLS: `GET /hls/{id}/seg-….m4s` (the newest segment) with the same user's bearer token: the
  authorization every segment request pays (token, user, camera, grant), then bytes from memory.

Usage: python3 storage_bench.py GATEWAY_BINARY MEDIA.mp4 [--seconds 8] [--connections 16]
Needs scripts/test-servers.sh's servers (GATEWAY_TEST_* in the environment)."""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import bench_gateway

PASSWORD = "benchmark-password"


def new_postgres_database():
    base = os.environ["GATEWAY_TEST_POSTGRES_URL"]
    name = "bench_" + os.urandom(6).hex()
    subprocess.run(["psql", base, "-X", "-q", "-c", f"CREATE DATABASE {name}"], check=True, stdout=subprocess.DEVNULL)
    return base.replace("/postgres?", f"/{name}?")


def storages():
    yield "sqlite", {"type": "sqlite"}
    yield "postgres", {"type": "postgres", "url": new_postgres_database()}
    yield "mongodb", {"type": "mongodb", "uri": os.environ["GATEWAY_TEST_MONGODB_URI"], "database": "bench_" + os.urandom(6).hex()}


def wrk(url, token, seconds, connections):
    result = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", url],
                            capture_output=True, text=True, timeout=seconds + 60)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if not rate:
        sys.exit(f"wrk failed: {result.stdout}{result.stderr}")
    return float(rate.group(1)), int(errors.group(1)) if errors else 0


def request(base, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data, headers=headers, method="POST" if data else "GET"),
                                timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def measure(binary, media, storage, cache, seconds, connections):
    config = {"auth": {"jwt_secret": "benchmark-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
              "users": [{"username": "owner", "password": PASSWORD, "role": "user"},
                        {"username": "viewer", "password": PASSWORD, "role": "user"}],
              "storage": storage,
              "limits": {"cameras_per_user": 100},
              "cameras": [{"id": "cam", "name": "Bench", "owner": "owner", "source": {"type": "file", "path": media, "loop": True},
                           "sinks": [{"type": "hls", "idle_timeout": 3600}]}]}
    if cache:
        config["cache"] = cache
    process, base, _ = bench_gateway.launch(binary, config, prefix="bench-storage-")
    try:
        owner = bench_gateway.login(base, "owner", PASSWORD)
        request(base, "/api/cameras/cam/shares", owner, {"username": "viewer", "role": "viewer"})
        viewer = bench_gateway.login(base, "viewer", PASSWORD)
        started = request(base, "/api/cameras/cam/stream/start", owner, {})
        api = wrk(f"{base}/api/cameras/cam", viewer, seconds, connections)
        # The newest segment, taken just before: it stays in the window (6 × 2 s) for the run.
        segment = None
        for _ in range(100):
            try:
                playlist = urllib.request.urlopen(base + started["streamUrl"], timeout=10).read().decode()
                names = [line.split("?")[0] for line in playlist.splitlines() if line.startswith("seg-")]
                if names:
                    segment = names[-1]
                    break
            except Exception:
                pass
            time.sleep(0.2)
        if not segment:
            sys.exit("the HLS sink produced no segment")
        hls = wrk(f"{base}/hls/cam/{segment}", viewer, seconds, connections)
        return api, hls
    finally:
        process.terminate()
        process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("media")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for variable in ["GATEWAY_TEST_POSTGRES_URL", "GATEWAY_TEST_REDIS_URL", "GATEWAY_TEST_MONGODB_URI"]:
        if not os.environ.get(variable):
            sys.exit(f"{variable} is not set: Benchmarks/run.sh storage starts the servers")
    cache = {"type": "redis", "url": os.environ["GATEWAY_TEST_REDIS_URL"]}
    print(f"\nStorage: requests/s with wrk ({args.connections} connections, {args.seconds} s each) as a viewer of a shared camera;"
          " non-2xx answers in brackets.\n")
    print(f"| {'backend':<10} | {'cache':<6} | {'GET /api/cameras/{id}':>22} | {'GET /hls/{id}/segment':>23} |")
    print(f"| {'-' * 10} | {'-' * 6} | {'-' * 22} | {'-' * 23} |")
    for name, storage in storages():
        for with_cache in (False, True):
            (api, api_errors), (hls, hls_errors) = measure(os.path.abspath(args.binary), os.path.abspath(args.media), storage,
                                                           cache if with_cache else None, args.seconds, args.connections)
            print(f"| {name:<10} | {'redis' if with_cache else '-':<6} | {api:>14.0f} ({api_errors:>4}) | {hls:>15.0f} ({hls_errors:>4}) |",
                  flush=True)


if __name__ == "__main__":
    main()
