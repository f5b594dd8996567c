"""Engine.IO races found with raw-socket probes (issue 11): each repeated many times, because a
race that loses one round in ten passes a single run. One order per session: an answer the
server produced earlier is never overtaken by one it produced later."""
import json
import select
import socket
import time

from helpers import open_polling, open_ws

PATH = "/socket.io/"
ROUNDS = 200


def raw_http(request):
    connection = socket.create_connection(("127.0.0.1", 3000), timeout=5)
    connection.sendall(request.encode())
    return connection


def read_http_response(connection):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.decode(), body.decode(errors="replace")


def test_a_probe_answer_is_never_overtaken_by_a_later_http_answer():
    """The client sends `2probe` on the new WebSocket, then a POST on the polling transport.
    The server answers `3probe` first, so by the time the POST's answer can be read, the
    `3probe` is readable too (both travel over loopback, written in that order)."""
    overtaken = 0
    for _ in range(ROUNDS):
        sid = open_polling(PATH)
        ws, _ = open_ws(PATH, sid)
        ws.send("2probe")
        body = "4hello"
        http = raw_http(f"POST {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n"
                        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n{body}")
        readable, _, _ = select.select([http], [], [], 5)
        assert readable, "the POST was not answered"
        ws_ready, _, _ = select.select([ws.sock], [], [], 0)
        if not ws_ready:
            overtaken += 1
        assert read_http_response(http)[0].startswith("HTTP/1.1 200")
        assert ws.recv() == "3probe"
        http.close()
        ws.close()
    assert overtaken == 0, f"the POST's answer overtook the 3probe in {overtaken} of {ROUNDS} rounds"


def test_a_poll_that_arrives_just_after_the_close_gets_the_close():
    """A long-poll GET and the closing POST set out together; whichever the server takes first,
    the GET settles as part of the close (`1`), never as "Session ID unknown"."""
    unknown = 0
    for _ in range(ROUNDS):
        sid = open_polling(PATH)
        body = "1"
        close = raw_http(f"POST {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n"
                         f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n{body}")
        time.sleep(0.002)  # the GET arrives a moment after the close
        poll = raw_http(f"GET {PATH}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n")
        head, text = read_http_response(poll)
        if not head.startswith("HTTP/1.1 200"):
            unknown += 1
        else:
            assert text in ("1", "6"), text
        read_http_response(close)
        close.close()
        poll.close()
    assert unknown == 0, f"{unknown} of {ROUNDS} polls were answered as an unknown session"
