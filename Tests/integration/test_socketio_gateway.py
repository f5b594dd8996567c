"""The gateway's Socket.IO namespace through python-socketio's client: JWT on connect, seed
001's events with their acknowledgements, the access decision on every event."""
import pytest
import socketio
from socketio_client import InOrderClient


def connect(gateway, token, transports):
    client = InOrderClient(reconnection=False)
    client.connect(gateway.base, auth={"token": token} if token else None, transports=transports, wait_timeout=10)
    return client


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_connects_with_a_valid_token_on_every_transport(gateway, transports):
    client = connect(gateway, gateway.login("olivia"), transports)
    cameras = client.call("loadCameras", timeout=10)
    assert [(c["id"], c["role"]) for c in cameras] == [("hlscam", "owner"), ("lobby", "owner"), ("strict", "owner")]
    if transports == ["polling", "websocket"]:
        deadline = __import__("time").time() + 5
        while client.transport() != "websocket" and __import__("time").time() < deadline:
            __import__("time").sleep(0.05)
        assert client.transport() == "websocket"
    client.disconnect()


@pytest.mark.parametrize("token", [None, "not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_an_invalid_token_gets_a_connect_error_not_a_connection(gateway, token):
    client = InOrderClient(reconnection=False)
    errors = []
    client.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(gateway.base, auth={"token": token} if token else None, transports=["websocket"], wait_timeout=5)
    assert not client.connected
    assert len(errors) == 1
    message = errors[0]["message"]
    assert any(word in message for word in ("token", "authentication", "algorithm")), message


def test_the_token_may_come_in_the_authorization_header(gateway):
    client = InOrderClient(reconnection=False)
    client.connect(gateway.base, headers={"Authorization": f"Bearer {gateway.login('olivia')}"}, transports=["polling"], wait_timeout=10)
    assert "lobby" in [c["id"] for c in client.call("loadCameras", timeout=10)]
    client.disconnect()


def test_seed_events_and_their_acknowledgements(gateway):
    owner = connect(gateway, gateway.login("olivia"), ["websocket"])
    added = owner.call("addCamera", {"name": "Gate", "rtspUrl": "rtsp://user:hunter2@192.0.2.10/live"}, timeout=10)
    assert added["success"] is True
    camera = added["camera"]
    assert camera["source"]["url"] == "rtsp://***@192.0.2.10/live"
    assert "hunter2" not in str(added)
    shared = owner.call("shareCamera", {"cameraId": camera["id"], "username": "victor"}, timeout=10)
    assert shared["success"] is True and shared["share"]["role"] == "viewer"
    started = owner.call("startStream", {"cameraId": camera["id"]}, timeout=10)
    assert started["success"] is True
    assert started["streamUrl"].startswith(f"/hls/{camera['id']}/index.m3u8?token=")
    assert owner.call("stopStream", {"cameraId": camera["id"]}, timeout=10) == {"success": True}
    recording = owner.call("recordStream", {"cameraId": camera["id"]}, timeout=10)
    assert recording["success"] is False and recording["code"] == "no_recorder"

    viewer = connect(gateway, gateway.login("victor"), ["polling"])
    assert (camera["id"], "viewer") in [(c["id"], c["role"]) for c in viewer.call("loadCameras", timeout=10)]
    refused = viewer.call("startStream", {"cameraId": camera["id"]}, timeout=10)
    assert refused["success"] is False and refused["code"] == "forbidden"
    assert viewer.call("deleteCamera", {"cameraId": camera["id"]}, timeout=10)["success"] is False

    stranger = connect(gateway, gateway.login("sam"), ["websocket"])
    assert stranger.call("loadCameras", timeout=10) == []
    hidden = stranger.call("startStream", {"cameraId": camera["id"]}, timeout=10)
    assert hidden["success"] is False and hidden["code"] == "not_found"
    invalid = stranger.call("addCamera", {"name": "x"}, timeout=10)
    assert invalid["success"] is False and "rtspUrl" in invalid["error"]

    assert owner.call("deleteCamera", {"cameraId": camera["id"]}, timeout=10) == {"success": True}
    assert camera["id"] not in [c["id"] for c in viewer.call("loadCameras", timeout=10)]
    for client in (owner, viewer, stranger):
        client.disconnect()
