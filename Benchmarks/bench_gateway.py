"""Starting the real `gateway` binary for a benchmark: a plugins.json of its own in a temporary
directory, a free port, and the base URL once it listens."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request


def launch(binary, config, log_level="notice", prefix="bench-"):
    """Returns (process, base URL, directory)."""
    directory = tempfile.mkdtemp(prefix=prefix)
    config = {**config, "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data", **config.get("server", {})}}
    with open(os.path.join(directory, "plugins.json"), "w") as handle:
        json.dump(config, handle)
    log = open(os.path.join(directory, "gateway.log"), "w+")
    process = subprocess.Popen([binary, "serve", "--config", os.path.join(directory, "plugins.json"), "--log-level", log_level],
                               stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline and process.poll() is None:
        log.seek(0)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read())
        if match:
            return process, match.group(1), directory
        time.sleep(0.05)
    process.kill()
    log.seek(0)
    sys.exit("the gateway did not start:\n" + log.read())


def login(base, username, password):
    request = urllib.request.Request(base + "/api/auth/login", data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))["token"]
