"""The API and openapi.yaml agree: schemathesis (PyPI) generates requests from the document —
schema-valid and schema-violating ones, every method — against a real gateway, as a user and
as an admin, with every check on, a fixed seed and a bounded number of examples. Zero failures:
no 5xx, no valid request refused with 400, no invalid one accepted, no response outside the
document, 405 for undeclared methods. Left out: /socket.io/, which speaks Engine.IO (whose
errors the protocol fixes: 400 for an unknown session) and has conformance suites of its own,
and the MJPEG stream and the event stream, which never end (tested in test_revocation.py, the
authorization matrix and test_console.py)."""
import os
import subprocess
import tempfile

import pytest
import requests

from conftest import launch, make_clip, password

HERE = os.path.dirname(__file__)
ST = os.path.join(os.path.dirname(os.path.abspath(os.sys.executable)), "st")
# `st` with a guard around a schemathesis bug (see the file).
RUN = [os.sys.executable, os.path.join(HERE, "schemathesis_run.py")]
# Examples per operation: 40 in the main run; scripts/test.sh asks for fewer when it runs this
# file again on PostgreSQL and MongoDB (what differs there is the storage, not the routes'
# validation), which keeps CI within its time.
EXAMPLES = int(os.environ.get("GATEWAY_TEST_FUZZ_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def fuzzed_gateway():
    if not os.path.exists(ST):
        pytest.fail(f"{ST} is missing: scripts/python-env.sh installs schemathesis", pytrace=False)
    directory = tempfile.mkdtemp(prefix="gateway-fuzz-")
    clip = make_clip(directory)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "fuzz-secret-0123456789abcdef0123456789abc", "bcrypt_cost": 4},
        "users": [{"username": "admin", "password": password("admin"), "role": "admin"},
                  {"username": "olivia", "password": password("olivia")}],
        "cameras": [{"id": "lobby", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                     "sinks": [{"type": "hls"}, {"type": "websocket"}, {"type": "clipper"}, {"type": "recorder", "segment_duration": 2}]}],
    }
    process, base, log = launch(directory, config)
    # Tokens first: the fuzzer's failed logins soon rate-limit this address.
    tokens = {user: requests.post(f"{base}/api/auth/login", json={"username": user, "password": password(user)}, timeout=10).json()["token"]
              for user in ("olivia", "admin")}
    yield base, tokens, log.name
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.parametrize("user", ["olivia", "admin"])
def test_the_api_and_its_document_agree(fuzzed_gateway, user):
    base, tokens, log_path = fuzzed_gateway
    result = subprocess.run(
        [*RUN, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", f"{base}/api/openapi.yaml", "--url", base,
         "-H", f"Authorization: Bearer {tokens[user]}", "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "11",
         "--workers", "1", "--exclude-path", "/socket.io/", "--exclude-path", "/api/cameras/{id}/mjpeg", "--exclude-path", "/api/events", "--no-color"],
        capture_output=True, text=True, timeout=600)
    summary = result.stdout[-6000:]
    # The whole report beside the gateway's log: a long reproduction can push the failure itself
    # out of the summary's tail.
    report = os.path.join(os.path.dirname(log_path), f"schemathesis-{user}.log")
    with open(report, "w") as handle:
        handle.write(result.stdout)
    assert result.returncode == 0, f"schemathesis found failures (whole report: {report}):\n{summary}\n{result.stderr[-2000:]}"
    assert " passed" in summary and "generated" in summary
    with open(log_path) as handle:
        assert "request failed" not in handle.read(), "an unexpected error became a 500"
