"""Socket.IO v5 over Engine.IO v4 at /socket.io/: every case of the official v5 test suite."""
import json
import time

import requests
import websocket

from helpers import PING_INTERVAL, PING_TIMEOUT, is_closed, open_polling, open_ws, poll, post, recv_skipping_pings, socketio_connection, url

P = "/socket.io/"


# Engine.IO behaviour at /socket.io/
def test_polling_handshake():
    response = requests.get(url(P, EIO=4, transport="polling"))
    handshake = json.loads(response.text[1:])
    assert handshake["upgrades"] == ["websocket"] and handshake["pingInterval"] == 300


def test_nothing_is_sent_before_a_connect():
    sid = open_polling(P)
    for _ in range(3):
        response = poll(P, sid)
        assert (response.status_code, response.text) == (200, "2")
        post(P, sid, "3")


def test_ping_timeout():
    sid = open_polling(P)
    time.sleep(PING_INTERVAL + PING_TIMEOUT + 0.01)
    assert poll(P, sid).status_code == 400


def test_upgrade_with_probe_and_upgrade_back_to_back():
    sid = open_polling(P)
    ws, _ = open_ws(P, sid=sid)
    ws.send("2probe")
    ws.send("5")
    assert ws.recv() == "3probe"
    time.sleep(0.05)
    assert poll(P, sid).status_code == 400
    second, _ = open_ws(P, sid=sid, handshake=False)
    assert is_closed(second)
    ws.close()


# connect
def test_connect_to_the_main_namespace():
    ws, connect, auth = socketio_connection()
    assert connect.startswith("40")
    assert list(json.loads(connect[2:])) == ["sid"]
    assert auth == '42["auth",{}]'
    ws.close()


def test_connect_with_a_payload():
    ws, _ = open_ws(P)
    ws.send('40{"token":"123"}')
    connect = ws.recv()
    assert list(json.loads(connect[2:])) == ["sid"]
    assert ws.recv() == '42["auth",{"token":"123"}]'
    ws.close()


def test_connect_to_a_custom_namespace():
    ws, _ = open_ws(P)
    ws.send("40/custom,")
    connect = ws.recv()
    assert connect.startswith("40/custom,")
    assert list(json.loads(connect[10:])) == ["sid"]
    assert ws.recv() == '42/custom,["auth",{}]'
    ws.send('40/custom,{"token":"abc"}')  # a second CONNECT to the same namespace changes nothing
    ws.close()


def test_connect_to_a_custom_namespace_with_a_payload():
    ws, _ = open_ws(P)
    ws.send('40/custom,{"token":"abc"}')
    assert ws.recv().startswith("40/custom,{\"sid\":")
    assert ws.recv() == '42/custom,["auth",{"token":"abc"}]'
    ws.close()


def test_unknown_namespace_is_refused():
    ws, _ = open_ws(P)
    ws.send("40/random")
    assert ws.recv() == '44/random,{"message":"Invalid namespace"}'
    ws.close()


def test_invalid_handshake_closes():
    ws, _ = open_ws(P)
    ws.send("4abc")
    assert is_closed(ws)


def test_no_connect_closes_the_connection():
    ws, _ = open_ws(P)
    started = time.time()
    while True:
        try:
            frame = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            break
        if frame == "":
            break
        if frame == "2":
            ws.send("3")  # keep the heartbeat alive: only the connect timeout may close it
    assert 0.9 <= time.time() - started < 2


def test_event_before_connect_closes():
    ws, _ = open_ws(P)
    ws.send('42["message","x"]')
    assert is_closed(ws)


# disconnect
def test_disconnect_from_the_main_namespace_keeps_the_connection():
    ws, _, _ = socketio_connection()
    ws.send("41")
    assert ws.recv() == "2"
    ws.close()


def test_connect_then_disconnect_a_custom_namespace():
    ws, _, _ = socketio_connection()
    assert ws.recv() == "2"
    ws.send("40/custom")
    assert ws.recv().startswith("40/custom,")
    assert ws.recv() == '42/custom,["auth",{}]'
    ws.send("41/custom")
    ws.send('42["message","message to main namespace"]')
    assert ws.recv() == '42["message-back","message to main namespace"]'
    ws.close()


# message
def test_plain_text_event():
    ws, _, _ = socketio_connection()
    ws.send('42["message",1,"2",{"3":[true]}]')
    assert recv_skipping_pings(ws, 1) == ['42["message-back",1,"2",{"3":[true]}]']
    ws.close()


def test_json_keeps_key_order_and_does_not_escape_slashes():
    ws, _, _ = socketio_connection()
    ws.send('42["message",{"z":"a/b","a":"\\u00e9\\n"}]')
    assert recv_skipping_pings(ws, 1) == ['42["message-back",{"z":"a/b","a":"\u00e9\\n"}]']
    ws.close()


def test_binary_event():
    ws, _, _ = socketio_connection()
    ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    ws.send_binary(bytes([1, 2, 3]))
    ws.send_binary(bytes([4, 5, 6]))
    assert recv_skipping_pings(ws, 3) == [
        '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', bytes([1, 2, 3]), bytes([4, 5, 6])]
    ws.close()


def test_binary_at_any_depth():
    ws, _, _ = socketio_connection()
    ws.send('451-["message",1,{"a":[{"b":{"_placeholder":true,"num":0}}]}]')
    ws.send_binary(bytes([9]))
    assert recv_skipping_pings(ws, 2) == ['451-["message-back",1,{"a":[{"b":{"_placeholder":true,"num":0}}]}]', bytes([9])]
    ws.close()


def test_event_with_ack():
    ws, _, _ = socketio_connection()
    ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert recv_skipping_pings(ws, 1) == ['43456[1,"2",{"3":[false]}]']
    ws.close()


def test_binary_event_with_ack():
    ws, _, _ = socketio_connection()
    ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    ws.send_binary(bytes([1, 2, 3]))
    ws.send_binary(bytes([4, 5, 6]))
    assert recv_skipping_pings(ws, 3) == [
        '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', bytes([1, 2, 3]), bytes([4, 5, 6])]
    ws.close()


def test_polling_transport_carries_binary_as_base64():
    sid = open_polling(P)
    post(P, sid, "40")
    packets = []
    while len(packets) < 2:
        packets += [p for p in poll(P, sid).text.split("\x1e") if p != "2"]
    assert packets[0].startswith("40{") and packets[1] == '42["auth",{}]'
    post(P, sid, '451-["message",{"_placeholder":true,"num":0}]\x1ebAQID')
    assert poll(P, sid).text == '451-["message-back",{"_placeholder":true,"num":0}]\x1ebAQID'


def test_malformed_packets_close_the_connection():
    for frame in ("4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]', "42", '43["x"]', "452-[\"message\"]"):
        ws, _, _ = socketio_connection()
        ws.send(frame)
        if frame.startswith("452-"):
            ws.send("4text instead of the attachments")
        assert is_closed(ws), frame


def test_server_acknowledgements_use_ids_from_zero():
    ws, _, _ = socketio_connection()
    ws.send('42["emit-with-ack",1,"2",{"3":[true]}]')
    assert recv_skipping_pings(ws, 1) == ['420["emit-with-ack",1,"2",{"3":[true]}]']
    ws.send('430[1,"2",{"3":[true]}]')
    assert recv_skipping_pings(ws, 1) == ['42["emit-with-ack",1,"2",{"3":[true]}]']
    ws.send('42["emit-with-ack","again"]')
    assert recv_skipping_pings(ws, 1) == ['421["emit-with-ack","again"]']
    ws.send('461-1[{"_placeholder":true,"num":0}]')
    ws.send_binary(bytes([7, 8]))
    assert recv_skipping_pings(ws, 2) == ['451-["emit-with-ack",{"_placeholder":true,"num":0}]', bytes([7, 8])]
    ws.close()
