#!/usr/bin/python3
"""A live RTSP camera for tests: GStreamer's RTSP server with a test pattern.

Run with Debian's /usr/bin/python3 (the GStreamer bindings are Debian packages):
    /usr/bin/python3 Tests/servers/rtsp_server.py --port 8554 --path /cam [--codec h265] [--audio [aac|pcmu]]
        [--user U --password P [--digest]] [--agents FILE] [--size 640x360] [--fps 25] [--bitrate 1000] [--loss PERCENT]
Prints "ready rtsp://127.0.0.1:PORT/PATH" on stdout once it listens.
"""
import argparse
import random
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def pipeline(args):
    width, height = args.size.split("x")
    video = (f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={args.fps}/1 ! ")
    gop = args.fps * 2
    if args.codec == "h265":
        video += (f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={args.bitrate} key-int-max={gop} ! "
                  "video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 config-interval=1")
    else:
        video += (f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={args.bitrate} key-int-max={gop} ! "
                  "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1")
    if args.audio == "aac":
        video += (" audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=1 ! audioconvert ! "
                  "avenc_aac ! rtpmp4gpay name=pay1 pt=97")
    elif args.audio == "pcmu":
        # G.711 µ-law at 8 kHz, as most IP cameras send it.
        video += (" audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! audioconvert ! "
                  "mulawenc ! rtppcmupay name=pay1 pt=0")
    return "( " + video + " )"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--codec", choices=["h264", "h265"], default="h264")
    parser.add_argument("--audio", nargs="?", const="aac", choices=["aac", "pcmu"], help="add audio (default AAC)")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    parser.add_argument("--digest", action="store_true", help="ask for Digest authentication instead of Basic")
    parser.add_argument("--agents", help="append the User-Agent of every DESCRIBE to this file")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="percent of video RTP packets dropped after the payloader: a lossy link")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(args))
    factory.set_shared(True)
    if args.loss > 0:
        dropped = random.Random(7)

        def drop_some(pad, info):
            return Gst.PadProbeReturn.DROP if dropped.random() * 100 < args.loss else Gst.PadProbeReturn.OK

        def configure(factory, media):
            payloader = media.get_element().get_by_name("pay0")
            payloader.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, drop_some)

        factory.connect("media-configure", configure)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if args.digest:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password or "", token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    # Over TCP the server itself drops packets when a client's send backlog fills (its main loop
    # starved on a loaded machine): a "clean" camera would then count losses that are the test
    # server's. Blocking the pipeline instead keeps a TCP link lossless, as a real one is.
    server.connect("client-connected", lambda server, client: client.set_property("drop-backlog", False))
    if args.agents:
        def describe(client, context):
            found, agent = context.request.get_header(GstRtsp.RTSPHeaderField.USER_AGENT, 0)
            with open(args.agents, "a") as agents:
                agents.write((agent if found == GstRtsp.RTSPResult.OK else "-") + "\n")

        server.connect("client-connected", lambda server, client: client.connect("describe-request", describe))
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        sys.exit(1)
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"ready rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
