"""Engine.IO v4 (echo server at /engine.io/): every case of the official v4 test suite."""
import json
import threading
import time

import requests
import websocket

from helpers import PING_INTERVAL, PING_TIMEOUT, concurrently, is_closed, open_polling, open_ws, poll, post, url

P = "/engine.io/"


# handshake / polling
def test_polling_handshake_opens_a_session():
    response = requests.get(url(P, EIO=4, transport="polling"))
    assert response.status_code == 200
    assert response.text[0] == "0"
    handshake = json.loads(response.text[1:])
    assert sorted(handshake) == ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]
    assert isinstance(handshake["sid"], str)
    assert handshake["upgrades"] == ["websocket"]
    assert (handshake["pingInterval"], handshake["pingTimeout"], handshake["maxPayload"]) == (300, 200, 1000000)


def test_invalid_eio_is_400():
    for query in ("transport=polling", "EIO=abc&transport=polling", "EIO=3&transport=polling"):
        response = requests.get(f"http://127.0.0.1:3000{P}?{query}")
        assert response.status_code == 400
        assert response.json() == {"code": 5, "message": "Unsupported protocol version"}


def test_invalid_transport_is_400():
    for query in ("EIO=4", "EIO=4&transport=abc"):
        response = requests.get(f"http://127.0.0.1:3000{P}?{query}")
        assert response.status_code == 400
        assert response.json() == {"code": 0, "message": "Transport unknown"}


def test_handshake_must_be_a_get():
    for method in ("POST", "PUT"):
        response = requests.request(method, url(P, EIO=4, transport="polling"))
        assert response.status_code == 400
        assert response.json() == {"code": 2, "message": "Bad handshake method"}


def test_unknown_session_is_400():
    response = poll(P, "nope")
    assert response.status_code == 400
    assert response.json() == {"code": 1, "message": "Session ID unknown"}


# handshake / websocket
def test_websocket_handshake_opens_a_session():
    ws, handshake = open_ws(P)
    assert sorted(handshake) == ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]
    assert handshake["upgrades"] == []
    assert (handshake["pingInterval"], handshake["pingTimeout"], handshake["maxPayload"]) == (300, 200, 1000000)
    ws.close()


def test_websocket_with_invalid_parameters_is_refused():
    for query in ("transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&transport=abc", "EIO=4&transport=websocket&sid=nope"):
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:3000{P}?{query}", timeout=3)
        except websocket.WebSocketBadStatusException as error:
            assert error.status_code == 400
        else:
            assert is_closed(ws)


# message / polling
def test_polling_one_text_packet():
    sid = open_polling(P)
    response = post(P, sid, "4hello")
    assert (response.status_code, response.text) == (200, "ok")
    response = poll(P, sid)
    assert (response.status_code, response.text) == (200, "4hello")


def test_polling_several_text_packets_come_back_in_one_payload():
    sid = open_polling(P)
    assert post(P, sid, "4test1\x1e4test2\x1e4test3").text == "ok"
    assert poll(P, sid).text == "4test1\x1e4test2\x1e4test3"


def test_polling_text_and_binary_packets():
    sid = open_polling(P)
    assert post(P, sid, "4hello\x1ebAQIDBA==").text == "ok"
    assert poll(P, sid).text == "4hello\x1ebAQIDBA=="


def test_polling_invalid_packet_closes_the_session():
    sid = open_polling(P)
    post(P, sid, "abc")
    assert poll(P, sid).status_code == 400


def test_duplicate_poll_closes_the_session():
    sid = open_polling(P)

    def late_poll():
        time.sleep(0.05)
        return poll(P, sid, t="burst")

    first, second = concurrently(lambda: poll(P, sid), late_poll)
    assert (first.status_code, first.text) == (200, "1")
    assert second.status_code == 400
    assert poll(P, sid).status_code == 400


def test_oversized_post_is_413_and_closes_the_session():
    sid = open_polling(P)
    response = post(P, sid, "4" + "x" * 1_000_001)
    assert response.status_code == 413
    assert poll(P, sid).status_code == 400


# message / websocket
def test_websocket_text_packet():
    ws, _ = open_ws(P)
    ws.send("4hello")
    assert ws.recv() == "4hello"
    ws.close()


def test_websocket_binary_packet():
    ws, _ = open_ws(P)
    ws.send_binary(bytes([1, 2, 3, 4]))
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY and data == bytes([1, 2, 3, 4])
    ws.close()


def test_websocket_invalid_packet_closes():
    ws, _ = open_ws(P)
    ws.send("abc")
    assert is_closed(ws)


# heartbeat
def test_polling_ping_pong():
    sid = open_polling(P)
    for _ in range(3):
        started = time.time()
        response = poll(P, sid)
        assert (response.status_code, response.text) == (200, "2")
        assert time.time() - started >= PING_INTERVAL * 0.5
        assert post(P, sid, "3").status_code == 200


def test_polling_ping_timeout_closes_the_session():
    sid = open_polling(P)
    time.sleep(PING_INTERVAL + PING_TIMEOUT + 0.01)
    assert poll(P, sid).status_code == 400


def test_websocket_ping_pong():
    ws, _ = open_ws(P)
    for _ in range(3):
        assert ws.recv() == "2"
        ws.send("3")
    ws.close()


def test_websocket_ping_timeout_closes():
    ws, _ = open_ws(P)
    assert is_closed(ws, wait=2)


# close
def test_polling_client_close():
    sid = open_polling(P)

    def close_soon():
        time.sleep(0.05)
        return post(P, sid, "1")

    pending, _ = concurrently(lambda: poll(P, sid), close_soon)
    assert (pending.status_code, pending.text) == (200, "6")
    assert poll(P, sid).status_code == 400


def test_websocket_client_close():
    ws, _ = open_ws(P)
    ws.send("1")
    assert is_closed(ws)


# upgrade
def test_upgrade_from_polling_to_websocket():
    sid = open_polling(P)
    ws, _ = open_ws(P, sid=sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    response = poll(P, sid)
    assert (response.status_code, response.text) == (200, "6")
    ws.send("5")
    ws.send("4hello")
    assert ws.recv() == "4hello"
    ws.close()


def test_upgrade_answers_a_waiting_poll_with_noop():
    sid = open_polling(P)
    ws, _ = open_ws(P, sid=sid)
    holder = {}
    waiting = threading.Thread(target=lambda: holder.setdefault("response", poll(P, sid)))
    waiting.start()
    time.sleep(0.05)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    waiting.join(timeout=5)
    assert holder["response"].text == "6"
    ws.send("5")
    ws.close()


def test_polling_after_upgrade_is_refused_but_the_session_lives():
    sid = open_polling(P)
    ws, _ = open_ws(P, sid=sid)
    ws.send("2probe")
    ws.send("5")
    assert ws.recv() == "3probe"
    time.sleep(0.05)
    assert poll(P, sid).status_code == 400
    ws.send("4hello")
    assert recv_text_skipping_pings(ws) == "4hello"
    ws.close()


def test_second_websocket_after_upgrade_is_closed_but_the_session_lives():
    sid = open_polling(P)
    ws, _ = open_ws(P, sid=sid)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    ws.send("5")
    time.sleep(0.05)
    second, _ = open_ws(P, sid=sid, handshake=False)
    assert is_closed(second)
    ws.send("4hello")
    assert recv_text_skipping_pings(ws) == "4hello"
    ws.close()


def recv_text_skipping_pings(ws):
    while True:
        frame = ws.recv()
        if frame == "2":
            ws.send("3")
            continue
        return frame
