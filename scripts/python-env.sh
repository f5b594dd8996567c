#!/usr/bin/env bash
# Makes .venv with the Python tools the tests use (PyPI): pytest, requests, websocket-client,
# python-socketio's client. Safe to re-run; reinstalls only when requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="Tests/requirements.txt"
stamp=".venv/.requirements"
if [ -x .venv/bin/python ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
