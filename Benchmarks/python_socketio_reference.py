"""python-socketio's own server (aiohttp), the reference for the event rate: the same
`message-with-ack` handler as socketio-conformance-server. Usage: python … PORT"""
import sys

import socketio
from aiohttp import web

server = socketio.AsyncServer(async_mode="aiohttp", ping_interval=25, ping_timeout=20)


@server.on("message-with-ack")
async def message_with_ack(sid, *arguments):
    return arguments


app = web.Application()
server.attach(app)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
