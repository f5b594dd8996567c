import json
import threading

import requests
import websocket

HTTP = "http://127.0.0.1:3000"
WS = "ws://127.0.0.1:3000"
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2


def url(path, **query):
    return f"{HTTP}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())


def open_polling(path):
    response = requests.get(url(path, EIO=4, transport="polling"), timeout=5)
    assert response.status_code == 200
    assert response.text.startswith("0")
    return json.loads(response.text[1:])["sid"]


def poll(path, sid, **extra):
    return requests.get(url(path, EIO=4, transport="polling", sid=sid, **extra), timeout=5)


def post(path, sid, body):
    return requests.post(url(path, EIO=4, transport="polling", sid=sid), data=body.encode(), timeout=5)


def open_ws(path, sid=None, handshake=True):
    query = f"EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    ws = websocket.create_connection(f"{WS}{path}?{query}", timeout=3)
    if handshake and sid is None:
        first = ws.recv()
        assert first.startswith("0")
        return ws, json.loads(first[1:])
    return ws, None


def is_closed(ws, wait=3.0):
    """True when the server closes the socket within `wait` seconds (frames before are skipped)."""
    ws.settimeout(wait)
    try:
        while True:
            opcode, _ = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True
    except websocket.WebSocketTimeoutException:
        return False


def recv_skipping_pings(ws, count):
    frames = []
    while len(frames) < count:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT and data == b"2":
            continue
        frames.append(data.decode() if opcode == websocket.ABNF.OPCODE_TEXT else bytes(data))
    return frames


def socketio_connection():
    ws, _ = open_ws("/socket.io/")
    ws.send("40")
    connect = ws.recv()
    auth = ws.recv()
    return ws, connect, auth


def concurrently(*calls):
    results = [None] * len(calls)

    def run(index, call):
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
