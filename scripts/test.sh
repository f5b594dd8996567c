#!/usr/bin/env bash
# Builds everything and runs every test. Servers that later suites need (PostgreSQL, Redis,
# Mosquitto, an RTSP server) are started here on loopback and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
for tool in ffmpeg ffprobe pkg-config; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is missing after install" >&2; exit 1; }
done
./scripts/python-env.sh
# PostgreSQL, Redis and a MongoDB wire-protocol server on loopback, stopped on exit; their
# addresses reach the tests through GATEWAY_TEST_* variables.
# The trap first: a server that fails to start must not leave the ones before it running.
trap './scripts/test-servers.sh stop' EXIT
./scripts/test-servers.sh start
# shellcheck source=/dev/null
source .test-servers/env
# The CLI tests run the gateway binary as a user would, so build it with the tests.
swift build --build-tests
swift test --skip-build --disable-xctest
# Engine.IO / Socket.IO conformance, from both protocol specifications, against
# socketio-conformance-server, and the gateway binary with real clients (python-socketio,
# websocket-client, ffprobe). The conftest.py files start and stop the servers.
.venv/bin/python -m pytest -q --durations=20 Tests/conformance Tests/integration
# The tests that exercise the API again on PostgreSQL (with the Redis cache in front) and on
# MongoDB, a database per gateway; the API fuzzer with 15 examples per operation instead of 40.
for storage in postgres mongodb; do
  cache=""
  [ "$storage" = postgres ] && cache=redis
  GATEWAY_TEST_STORAGE=$storage GATEWAY_TEST_CACHE=$cache GATEWAY_TEST_FUZZ_EXAMPLES=15 .venv/bin/python -m pytest -q Tests/integration/test_socketio_gateway.py \
    Tests/integration/test_revocation.py Tests/integration/test_clips.py Tests/integration/test_recording_acl.py \
    Tests/integration/test_bounded_work.py Tests/integration/test_openapi_fuzz.py
done
