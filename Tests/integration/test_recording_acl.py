"""The access decision on clip, recording and video routes, for every kind of caller."""
import time
from datetime import datetime

import requests


def auth(token):
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_clip_recording_and_video_routes_against_every_caller(gateway):
    owner = gateway.login("oscar")
    for user, role in (("victor", "viewer"), ("olivia", "operator")):
        requests.post(f"{gateway.base}/api/cameras/clipcam/shares", headers=auth(owner), json={"username": user, "role": role})
        requests.post(f"{gateway.base}/api/cameras/reccam/shares", headers=auth(owner), json={"username": user, "role": role})
    time.sleep(2)
    made = requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(owner), json={"post_seconds": 0})
    assert made.status_code in (201, 202), made.text
    clip = made.json()["clip"]["id"]
    # Playback below asks for what was recorded 3 s ago: wait until the recorder has that much
    # (a hang guard; the camera starts with the gateway).
    deadline = time.time() + 15
    while True:
        now = time.time()
        spans = requests.get(f"{gateway.base}/api/cameras/reccam/recordings", headers=auth(owner)).json()["spans"]
        if any(datetime.fromisoformat(span["start"].replace("Z", "+00:00")).timestamp() <= now - 3.2 for span in spans) or now > deadline:
            break
        time.sleep(0.2)
    callers = {"owner": owner, "admin": gateway.login("admin"), "operator": gateway.login("olivia"),
               "viewer": gateway.login("victor"), "stranger": gateway.login("sam"), "none": None}
    view = {"owner": 200, "admin": 200, "operator": 200, "viewer": 200, "stranger": 404, "none": 401}
    operate = {"owner": 202, "admin": 202, "operator": 202, "viewer": 403, "stranger": 404, "none": 401}
    switch = {"owner": 200, "admin": 200, "operator": 200, "viewer": 403, "stranger": 404, "none": 401}
    manage = {"owner": 204, "admin": 204, "operator": 403, "viewer": 403, "stranger": 404, "none": 401}
    failures = []
    for name, token in callers.items():
        checks = [
            ("POST clips", requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(token), json={"post_seconds": 0}), operate),
            ("GET recordings", requests.get(f"{gateway.base}/api/cameras/reccam/recordings", headers=auth(token)), view),
            ("GET recordings/play", requests.get(f"{gateway.base}/api/cameras/reccam/recordings/play?start={now - 3}&duration=1",
                                                 headers=auth(token)), view),
            ("POST recording", requests.post(f"{gateway.base}/api/cameras/reccam/recording", headers=auth(token), json={"enabled": True}), switch),
            ("GET video", requests.get(f"{gateway.base}/api/videos/{clip}", headers=auth(token)), view),
            ("GET video stream", requests.get(f"{gateway.base}/api/videos/{clip}/stream", headers=auth(token)), view),
        ]
        for route, response, expected in checks:
            want = expected[name]
            if response.status_code != want and not (route == "GET video stream" and want == 200 and response.status_code == 404):
                failures.append(f"{route} by {name}: {response.status_code}, expected {want}")
    for name in ("stranger", "none", "viewer", "operator", "owner"):
        # The clips asked for above finish with the clipper's next batch (within about 0.4 s);
        # until then the camera may be at its limit of clips in progress (429).
        deadline = time.time() + 10
        while True:
            made = requests.post(f"{gateway.base}/api/cameras/clipcam/clips", headers=auth(owner), json={"post_seconds": 0})
            if made.status_code != 429 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert made.status_code in (201, 202), made.text
        fresh = made.json()["clip"]["id"]
        deadline = time.time() + 5
        while requests.get(f"{gateway.base}/api/videos/{fresh}", headers=auth(owner)).json()["status"] != "ready" and time.time() < deadline:
            time.sleep(0.1)
        status = requests.delete(f"{gateway.base}/api/videos/{fresh}", headers=auth(callers[name])).status_code
        if status != manage[name]:
            failures.append(f"DELETE video by {name}: {status}, expected {manage[name]}")
    for user in ("victor", "olivia"):
        requests.delete(f"{gateway.base}/api/cameras/clipcam/shares/{user}", headers=auth(owner))
        requests.delete(f"{gateway.base}/api/cameras/reccam/shares/{user}", headers=auth(owner))
    assert failures == [], "\n".join(failures)
