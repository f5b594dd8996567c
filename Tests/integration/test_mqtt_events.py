"""The MQTT event backend against a real Mosquitto broker (scripts/test-servers.sh): what a
subscriber receives for a scripted session, retained availability and camera states, commands
in, and nothing lost while the broker is away (the broker stopped, the gateway restarted)."""
import json
import os
import re
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import pytest
import requests
import websocket

from conftest import launch, login, make_clip, password, stop


def shared_broker():
    url = os.environ.get("GATEWAY_TEST_MQTT_URL")
    if not url:
        pytest.fail("GATEWAY_TEST_MQTT_URL is not set: run `scripts/test-servers.sh start && source .test-servers/env`"
                    " (make test does)", pytrace=False)
    return url


class Subscriber:
    """A paho-mqtt client that records every message of `patterns`, in arrival order. With a
    `client_id` its session is persistent (clean_session false): the broker keeps its QoS 1
    messages while it is away, across broker restarts (Mosquitto's persistence file)."""

    def __init__(self, url, patterns, client_id=None):
        parsed = urlparse(url)
        self.messages = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                  clean_session=client_id is None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.patterns = patterns
        self.client.on_connect = self.connected
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self.received
        self.client.connect(parsed.hostname, parsed.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscriber did not get its subscription"

    def connected(self, client, userdata, flags, reason, properties):
        for pattern in self.patterns:
            client.subscribe(pattern, qos=1)

    def received(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def events(self):
        """The JSON events received, duplicates (same id) dropped, in order."""
        seen, events = set(), []
        with self.lock:
            messages = list(self.messages)
        for topic, payload, _ in messages:
            if not payload.startswith(b"{"):
                continue
            event = json.loads(payload)
            if "id" not in event or event["id"] in seen:
                continue
            seen.add(event["id"])
            events.append((topic, event))
        return events

    def wait_for(self, condition, timeout=20, what="messages"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; received: {[(t, p[:160]) for t, p, _ in self.messages]}")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def prefix():
    return "it" + os.urandom(4).hex() + "/gateway"


def config(directory, url, topic_prefix, cameras=(), users=("admin", "olivia", "victor"), **mqtt_options):
    return {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "integration-secret-0123456789abcdef0123", "bcrypt_cost": 4, "allow_registration": True, "registrations_per_hour": 1000},
        "users": [{"username": u, "password": password(u), "role": "admin" if u == "admin" else "user"} for u in users],
        "events": [{"type": "log"}, {"type": "mqtt", "url": url, "topic_prefix": topic_prefix, **mqtt_options}],
        "cameras": list(cameras),
    }


def register(base, username):
    response = requests.post(f"{base}/api/auth/register", json={"username": username, "password": password(username)}, timeout=10)
    assert response.status_code == 201, response.text


def test_a_scripted_session_arrives_with_its_topics_and_payloads(tmp_path):
    url, topics = shared_broker(), prefix()
    clip = make_clip(str(tmp_path))
    cameras = [{"id": "frontdoor", "name": "Front door", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                "sinks": [{"type": "websocket"}, {"type": "clipper", "pre_seconds": 1, "post_seconds": 0.5}]}]
    subscriber = Subscriber(url, [f"{topics}/#"])
    process, base, log = launch(str(tmp_path), config(str(tmp_path), url, topics, cameras))
    try:
        register(base, "newcomer")
        token = login(base, "olivia")
        headers = {"Authorization": f"Bearer {token}"}
        secret = "hunter2-" + os.urandom(4).hex()
        created = requests.post(f"{base}/api/cameras", headers=headers, timeout=10, json={
            "id": "garage", "name": "Garage", "source": {"type": "rtsp", "url": f"rtsp://viewer:{secret}@192.0.2.1:554/stream"}})
        assert created.status_code == 201, created.text
        shared = requests.post(f"{base}/api/cameras/frontdoor/shares", headers=headers, json={"username": "victor", "role": "viewer"}, timeout=10)
        assert shared.status_code in (200, 201), shared.text
        viewer = websocket.create_connection(base.replace("http", "ws") + "/ws/cameras/frontdoor",
                                             header=[f"Authorization: Bearer {login(base, 'victor')}"], timeout=30)
        viewer.recv_data()
        viewer.close()
        made = requests.post(f"{base}/api/cameras/frontdoor/clips", headers=headers, json={"label": "doorbell"}, timeout=10)
        assert made.status_code in (201, 202), made.text

        expected = [("user/registered", "newcomer", None), ("user/login", "olivia", None), ("camera/created", "olivia", "garage"),
                    ("camera/shared", "olivia", "frontdoor"), ("viewer/joined", "victor", "frontdoor"),
                    ("viewer/left", "victor", "frontdoor"), ("clip/triggered", "olivia", "frontdoor"), ("clip/ready", "olivia", "frontdoor")]

        def seen():
            got = [(topic[len(topics) + 1:], event.get("actor"), event.get("camera")) for topic, event in subscriber.events()]
            return [entry for entry in got if entry in expected]

        subscriber.wait_for(lambda: len(seen()) >= len(expected), what="the session's events")
        assert seen() == expected, "the session's events arrive once each, in order"
        for topic, event in subscriber.events():
            assert event["v"] == 1 and re.fullmatch(r"[0-9a-f-]{36}", event["id"]), event
            assert topic == f"{topics}/" + event["event"].replace(".", "/", 1), (topic, event)
            assert event["time"].endswith("Z")
        clip_ready = next(event for topic, event in subscriber.events() if event["event"] == "clip.ready")
        assert clip_ready["details"]["video"].startswith("clip-")
        # The camera with credentials in its URL: never in any message.
        subscriber.wait_for(lambda: any(t.endswith("/cameras/garage/state") for t, _, _ in subscriber.messages), what="garage's state")
        with subscriber.lock:
            assert not [m for m in subscriber.messages if secret.encode() in m[1]], "a camera password reached MQTT"
        # The same events went to the log backend, with the same ids.
        logged = {json.loads(line)["id"] for line in open(tmp_path / "data" / "events.jsonl")}
        assert {event["id"] for _, event in subscriber.events()} <= logged
    finally:
        stop(process, log)
        subscriber.close()


def test_retained_availability_and_camera_states_reach_a_late_subscriber(tmp_path):
    url, topics = shared_broker(), prefix()
    clip = make_clip(str(tmp_path))
    cameras = [{"id": name, "name": name, "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                "sinks": [{"type": "websocket"}]} for name in ("north", "south")]
    cameras.append({"id": "broken", "name": "Broken", "owner": "olivia", "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/none"}})
    process, base, log = launch(str(tmp_path), config(str(tmp_path), url, topics, cameras))
    try:
        token = login(base, "olivia")

        def states():
            listed = requests.get(f"{base}/api/cameras", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
            listed = listed["cameras"]
            return {camera["id"]: camera.get("state") for camera in listed}

        deadline = time.time() + 20
        while time.time() < deadline and not (states().get("north") == "online" and states().get("south") == "online"):
            time.sleep(0.2)
        time.sleep(1)
        # Joins late: the broker hands it the retained messages at once.
        late = Subscriber(url, [f"{topics}/cameras/+/state", f"{topics}/available"])
        late.wait_for(lambda: len({t for t, _, r in late.messages if r}) >= 4, timeout=10, what="retained states")
        retained = {topic: payload for topic, payload, was_retained in late.messages if was_retained}
        assert retained[f"{topics}/available"] == b"online"
        for camera in ("north", "south"):
            state = json.loads(retained[f"{topics}/cameras/{camera}/state"])
            assert state["camera"] == camera and state["state"] == "online", state
        broken = json.loads(retained[f"{topics}/cameras/broken/state"])
        assert broken["state"] in ("connecting", "reconnecting") and broken["reason"] == "the camera could not be reached", broken
        late.close()
        # A deleted camera's retained state is cleared.
        admin = {"Authorization": f"Bearer {login(base, 'admin')}"}
        created = requests.post(f"{base}/api/cameras", headers=admin, timeout=10,
                                json={"id": "temporary", "name": "T", "source": {"type": "file", "path": clip, "loop": True}})
        assert created.status_code == 201, created.text
        watcher = Subscriber(url, [f"{topics}/cameras/temporary/state"])
        watcher.wait_for(lambda: any(p.startswith(b"{") for _, p, _ in watcher.messages), what="temporary's state")
        assert requests.delete(f"{base}/api/cameras/temporary", headers=admin, timeout=10).status_code == 204
        watcher.wait_for(lambda: watcher.messages[-1][1] == b"", what="the cleared state")
        # The supervisor's last "stopped" comes after the deletion: it must not bring the state back.
        time.sleep(1.5)
        assert watcher.messages[-1][1] == b"", watcher.messages
        watcher.close()
    finally:
        stop(process, log)
    # After a clean stop the availability says offline.
    after = Subscriber(url, [f"{topics}/available"])
    after.wait_for(lambda: after.messages, timeout=10, what="availability")
    assert after.messages[-1][1] == b"offline"
    after.close()


def test_commands_in_trigger_a_clip_and_switch_recording_as_the_service_user(tmp_path):
    url, topics = shared_broker(), prefix()
    clip = make_clip(str(tmp_path))
    cameras = [{"id": "yard", "name": "Yard", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                "sinks": [{"type": "clipper", "pre_seconds": 1, "post_seconds": 0.5},
                          {"type": "recorder", "segment_duration": 2, "enabled": False}]},
               {"id": "private", "name": "Private", "owner": "olivia", "source": {"type": "file", "path": clip, "loop": True},
                "sinks": [{"type": "clipper", "pre_seconds": 1, "post_seconds": 0.5}]}]
    process, base, log = launch(str(tmp_path), config(str(tmp_path), url, topics, cameras, users=("admin", "olivia", "automation"),
                                                      service_user="automation"))
    subscriber = Subscriber(url, [f"{topics}/#"])
    try:
        owner = {"Authorization": f"Bearer {login(base, 'olivia')}"}
        granted = requests.post(f"{base}/api/cameras/yard/shares", headers=owner, json={"username": "automation", "role": "operator"}, timeout=10)
        assert granted.status_code in (200, 201), granted.text
        time.sleep(2)  # a pre-roll to cut from
        publisher = Subscriber(url, [f"{topics}/none"])
        publisher.client.publish(f"{topics}/cameras/yard/clip/trigger", json.dumps({"label": "motion", "post_seconds": 0.5}), qos=1)
        publisher.client.publish(f"{topics}/cameras/yard/recording/set", "on", qos=1)
        # Not shared with the service user: refused, and said so on the event topic.
        publisher.client.publish(f"{topics}/cameras/private/clip/trigger", "", qos=1)
        publisher.client.publish(f"{topics}/cameras/yard/recording/set", "maybe", qos=1)

        def named(name):
            return [event for _, event in subscriber.events() if event["event"] == name]

        subscriber.wait_for(lambda: named("clip.ready") and named("recording.started") and len(named("command.rejected")) >= 2,
                            what="the commands' events")
        ready = named("clip.ready")[0]
        assert ready["camera"] == "yard" and ready["actor"] == "automation"
        videos = requests.get(f"{base}/api/videos?camera=yard", headers=owner, timeout=10).json()
        listed = videos["data"]
        made = next(video for video in listed if video["id"] == ready["details"]["video"])
        assert made["label"] == "motion" and made["status"] == "ready"
        assert named("recording.started")[0]["actor"] == "automation"
        rejected = {(event.get("camera"), event["details"]["code"]) for event in named("command.rejected")}
        assert ("private", "forbidden") in rejected or ("private", "not_found") in rejected, rejected
        assert ("yard", "bad_request") in rejected, rejected
        assert not [event for event in named("clip.triggered") if event["camera"] == "private"]
        publisher.close()
    finally:
        stop(process, log)
        subscriber.close()


def test_nothing_is_lost_while_the_broker_is_away_even_across_a_gateway_restart(tmp_path, own_broker):
    topics = prefix()
    # A persistent session: the broker keeps this subscriber's messages while it is offline.
    subscriber = Subscriber(own_broker.url, [f"{topics}/user/#", f"{topics}/camera/created"], client_id="it-" + os.urandom(4).hex())
    settings = config(str(tmp_path), own_broker.url, topics)
    process, base, log = launch(str(tmp_path), settings)
    expected = []
    try:
        register(base, "before1")
        expected.append(("user.registered", "before1"))
        subscriber.wait_for(lambda: len(subscriber.events()) >= 1, what="the first event")

        own_broker.down()
        admin = {"Authorization": f"Bearer {login(base, 'admin')}"}
        expected.append(("user.login", "admin"))
        for index in range(5):
            register(base, f"away{index}")
            expected.append(("user.registered", f"away{index}"))
        assert requests.post(f"{base}/api/cameras", headers=admin, timeout=10,
                             json={"id": "spooled", "name": "S", "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/x"}}).status_code == 201
        expected.append(("camera.created", "admin"))
        metrics = requests.get(f"{base}/metrics", headers=admin, timeout=10).text
        assert re.search(r'gateway_events_spooled\{backend="mqtt"\} ([7-9]|[1-9]\d)', metrics), metrics

        # Restarted while the broker is still away: the spool on disk is read back.
        stop(process, log)
        process, base, log = launch(str(tmp_path), settings)
        for index in range(3):
            register(base, f"restarted{index}")
            expected.append(("user.registered", f"restarted{index}"))

        own_broker.up()

        def ours():
            return [(event["event"], event.get("actor")) for _, event in subscriber.events() if (event["event"], event.get("actor")) in expected]

        subscriber.wait_for(lambda: len(ours()) >= len(expected), timeout=40, what="the spooled events")
        assert ours() == expected, "every event arrives once (after dropping duplicates by id), in order"
        admin = {"Authorization": f"Bearer {login(base, 'admin')}"}
        deadline = time.time() + 10
        while time.time() < deadline:
            metrics = requests.get(f"{base}/metrics", headers=admin, timeout=10).text
            if 'gateway_events_spooled{backend="mqtt"} 0' in metrics:
                break
            time.sleep(0.2)
        assert 'gateway_events_spooled{backend="mqtt"} 0' in metrics
        assert 'gateway_events_dropped_total{backend="mqtt"} 0' in metrics
    finally:
        stop(process, log)
        subscriber.close()


def test_beyond_the_spool_bound_the_oldest_are_dropped_and_counted(tmp_path, own_broker):
    topics = prefix()
    subscriber = Subscriber(own_broker.url, [f"{topics}/user/registered"], client_id="it-" + os.urandom(4).hex())
    own_broker.down()
    settings = config(str(tmp_path), own_broker.url, topics, spool_max_events=5)
    process, base, log = launch(str(tmp_path), settings)
    try:
        for index in range(12):
            register(base, f"bounded{index}")
        admin = {"Authorization": f"Bearer {login(base, 'admin')}"}
        metrics = requests.get(f"{base}/metrics", headers=admin, timeout=10).text
        assert 'gateway_events_spooled{backend="mqtt"} 5' in metrics, metrics
        dropped = int(re.search(r'gateway_events_dropped_total\{backend="mqtt"\} (\d+)', metrics).group(1))
        # 12 registrations and the admin's login, at least; 5 kept.
        assert dropped >= 8
        own_broker.up()
        subscriber.wait_for(lambda: len(subscriber.events()) >= 4, timeout=40, what="the kept events")
        time.sleep(1)
        actors = [event["actor"] for _, event in subscriber.events()]
        # The newest are kept: the last registrations (the admin's login came after them).
        assert actors == [f"bounded{index}" for index in range(8, 12)], actors
    finally:
        stop(process, log)
        subscriber.close()
