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
# The CLI tests run the gateway binary as a user would, so build it with the tests.
swift build --build-tests
swift test --skip-build --disable-xctest
# Engine.IO / Socket.IO conformance, from both protocol specifications, against
# socketio-conformance-server, and the gateway binary with real clients (python-socketio,
# websocket-client, ffprobe). The conftest.py files start and stop the servers.
.venv/bin/python -m pytest -q Tests/conformance Tests/integration
