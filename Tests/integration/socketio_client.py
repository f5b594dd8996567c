"""python-socketio's client, handling each Engine.IO message in the order it arrived.

python-engineio 4.x (`Client._trigger_event(..., run_async=True)`) runs the handler of every
message on a new thread of its own. A binary event's header and its attachment, or two live
fragments, may then be handled out of order: the attachment decoded as a packet ("invalid
literal for int() with base 10: b'\\x00'", seen in CI as an unhandled thread exception), or one
fragment's bytes given to the next fragment's event, or fragments appended out of order — what
the tests would then blame on the gateway. Here messages are handled on the reader thread, one
after the other, as a browser's client does. Handlers must not block (or `call`, which waits for
the reader): the tests' handlers append what they receive and set events.
"""
import engineio
import socketio


class _InOrderEngineIO(engineio.Client):
    def _trigger_event(self, event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderClient(socketio.Client):
    def _engineio_client_class(self):
        return _InOrderEngineIO
