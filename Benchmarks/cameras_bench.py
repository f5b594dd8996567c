"""Cameras at scale: CPU and RSS of the gateway with N cameras, each with the sinks of `--sinks`
(default hls + clipper), against the seeds' way measured in the same run: per camera one
`ffmpeg -c copy` process per job (HLS; a rolling segment buffer for clips; 60 s recording
segments; an fMP4 stream for WebSocket viewers). Also one MJPEG camera transcoded at 720p
against an ffmpeg process doing the same transcode. `--before OTHER_BINARY` measures a second
gateway build (an older commit) on the same cameras in the same run.

Usage: python3 cameras_bench.py GATEWAY_BINARY MEDIA_1080P.mp4 [--counts 1,10,20] [--window 20]
       [--kinds file,rtsp] [--sinks hls,clipper | websocket,hls,recorder] [--before BINARY] [--mjpeg]
CPU is user + system time over the window (from /proc), after a warm-up; RSS at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench_gateway

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "benchmark-password"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid):
    match = re.search(r"VmRSS:\s+(\d+) kB", open(f"/proc/{pid}/status").read())
    return int(match.group(1)) if match else 0


def measure(pids, warmup, window):
    """CPU seconds over `window` after `warmup`, and RSS (KiB) at the end, summed over `pids`."""
    time.sleep(warmup)
    for pid in pids:
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit(f"process {pid} died during the warm-up")
    start = sum(cpu_seconds(pid) for pid in pids)
    time.sleep(window)
    cpu = sum(cpu_seconds(pid) for pid in pids) - start
    return cpu, sum(rss_kib(pid) for pid in pids)


def request(url, data=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET"), timeout=30) as r:
        return r.read()


class RTSPServer:
    """GStreamer's RTSP server replaying the file (no re-encoding) from its start for each client."""

    def __init__(self, media):
        self.port = free_port()
        script = f"""
import gi, signal
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer(); server.set_address("127.0.0.1"); server.set_service("{self.port}")
factory = GstRtspServer.RTSPMediaFactory(); factory.set_shared(False)
factory.set_launch("( filesrc location={media} ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )")
server.get_mount_points().add_factory("/cam", factory); server.attach(None)
loop = GLib.MainLoop(); GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
print("ready", flush=True); loop.run()
"""
        self.process = subprocess.Popen(["/usr/bin/python3", "-c", script], stdout=subprocess.PIPE, text=True)
        if not self.process.stdout.readline().startswith("ready"):
            sys.exit("the RTSP server did not start")
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def gateway_run(binary, cameras, warmup, window):
    config = {"auth": {"jwt_secret": "benchmark-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
              "users": [{"username": "admin", "password": PASSWORD, "role": "admin"}], "cameras": cameras}
    process, base, directory = bench_gateway.launch(binary, config, prefix="bench-cameras-")
    try:
        token = bench_gateway.login(base, "admin", PASSWORD)
        for camera in cameras:
            if not any(sink["type"] == "hls" for sink in camera["sinks"]):
                continue
            # The HLS sink muxes from its first request on (idle_timeout keeps it running).
            stream = json.loads(request(f"{base}/api/cameras/{camera['id']}/stream/start", {}, token))
            for _ in range(100):
                try:
                    request(base + stream["streamUrl"].replace("index.m3u8", "master.m3u8"))
                    break
                except Exception:
                    time.sleep(0.2)
        cpu, rss = measure([process.pid], warmup, window)
        health = json.loads(request(f"{base}/api/health", token=token))
        online = sum(1 for c in health["cameras"] if c["state"] == "online")
        return cpu, rss, online
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)


def ffmpeg_run(jobs, warmup, window):
    directory = tempfile.mkdtemp(prefix="bench-ffmpeg-")
    processes = []
    try:
        for index, (input_args, output_args) in enumerate(jobs):
            out = os.path.join(directory, str(index))
            os.makedirs(out)
            arguments = [a.replace("{out}", out) for a in output_args]
            processes.append(subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *input_args, *arguments],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return measure([p.pid for p in processes], warmup, window)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(directory, ignore_errors=True)


HLS_JOB = ["-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_list_size", "6",
           "-hls_flags", "delete_segments", "{out}/index.m3u8"]
RECORD_JOB = ["-c", "copy", "-f", "segment", "-segment_time", "60", "-segment_format", "mp4", "-reset_timestamps", "1",
              "{out}/rec%03d.mp4"]
FRAGMENT_JOB = ["-c", "copy", "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-y", "/dev/null"]
CLIP_JOB = ["-c", "copy", "-f", "segment", "-segment_time", "2", "-segment_wrap", "15", "-reset_timestamps", "1", "{out}/buffer%03d.ts"]


SINKS = {
    "hls": ({"type": "hls", "idle_timeout": 3600}, HLS_JOB),
    "clipper": ({"type": "clipper", "pre_seconds": 30, "post_seconds": 10}, CLIP_JOB),
    "recorder": ({"type": "recorder", "segment_duration": 60}, RECORD_JOB),
    "websocket": ({"type": "websocket"}, FRAGMENT_JOB),
}


def row(*cells):
    print("| " + " | ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, (34, 9, 16, 16, 26, 16, 16, 10)))) + " |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("media")
    parser.add_argument("--counts", default="0,1,10,20", help="0 measures the gateway without cameras")
    parser.add_argument("--kinds", default="file,rtsp")
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--sinks", default="hls,clipper", help=f"of {', '.join(SINKS)}")
    parser.add_argument("--before", help="another gateway binary (an older commit) measured on the same cameras")
    parser.add_argument("--mjpeg", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    sinks = args.sinks.split(",")
    if unknown := [name for name in sinks if name not in SINKS]:
        sys.exit(f"unknown sinks: {unknown}")

    print(f"\nCameras: 1080p25 H.264 4 Mbit/s, sinks {' + '.join(sinks)}; CPU over {args.window:.0f} s after "
          f"{args.warmup:.0f} s warm-up (% of one core); RSS at the end.\n")
    row("cameras", "online", "gateway CPU", "gateway RSS", "ffmpeg processes", "ffmpeg CPU", "ffmpeg RSS", "CPU ratio")
    row("-" * 34, "-" * 9, "-" * 16, "-" * 16, "-" * 26, "-" * 16, "-" * 16, "-" * 10)
    for kind in args.kinds.split(","):
        server = RTSPServer(os.path.abspath(args.media)) if kind == "rtsp" else None
        try:
            for count in counts:
                if count == 0 and kind != args.kinds.split(",")[0]:
                    continue
                if kind == "rtsp":
                    source = {"type": "rtsp", "url": server.url}
                    input_args = ["-rtsp_transport", "tcp", "-i", server.url]
                else:
                    source = {"type": "file", "path": os.path.abspath(args.media), "loop": True}
                    input_args = ["-re", "-stream_loop", "-1", "-i", os.path.abspath(args.media)]
                cameras = [{"id": f"cam{i}", "source": source, "sinks": [SINKS[name][0] for name in sinks]} for i in range(count)]
                if args.before:
                    b_cpu, b_rss, b_online = gateway_run(args.before, cameras, args.warmup, args.window)
                    b_pct = 100 * b_cpu / args.window
                    label = f"{count} {kind} camera{'s' if count > 1 else ''}" if count else "without cameras"
                    row(f"before: {label}", f"{b_online}/{count}", f"{b_pct:.1f}%" + (f" ({b_pct / count:.2f}/cam)" if count else ""),
                        f"{b_rss / 1024:.0f} MiB", "-", "-", "-", "-")
                cpu, rss, online = gateway_run(args.binary, cameras, args.warmup, args.window)
                if count == 0:
                    pct = 100 * cpu / args.window
                    row("gateway without cameras", "-", f"{pct:.1f}%", f"{rss / 1024:.0f} MiB", "-", "-", "-", "-")
                    continue
                jobs = [(input_args, SINKS[name][1]) for _ in range(count) for name in sinks]
                ffmpeg_cpu, ffmpeg_rss = ffmpeg_run(jobs, args.warmup, args.window)
                g_pct, f_pct = 100 * cpu / args.window, 100 * ffmpeg_cpu / args.window
                row(f"{count} {kind} camera{'s' if count > 1 else ''}", f"{online}/{count}",
                    f"{g_pct:.1f}% ({g_pct / count:.2f}/cam)", f"{rss / 1024:.0f} MiB ({rss / 1024 / count:.1f}/cam)",
                    f"{len(jobs)} ({' + '.join(sinks)})", f"{f_pct:.1f}% ({f_pct / count:.2f}/cam)",
                    f"{ffmpeg_rss / 1024:.0f} MiB", f"{ffmpeg_cpu / cpu:.1f}x" if cpu > 0 else "-")
        finally:
            if server:
                server.stop()

    if args.mjpeg:
        mjpeg_bench(args)
    print("\nThe clipper keeps its pre-roll in memory (30 s × 4 Mbit/s ≈ 15 MiB per camera); ffmpeg's rolling buffer is on disk.")
    print("RTSP: GStreamer's RTSP server replays the file to each client (no re-encoding); its CPU is not counted on either side.")


def mjpeg_bench(args):
    """One 720p25 MJPEG camera over HTTP: the gateway transcodes it once (+ HLS); ffmpeg does the same job."""
    def serve():
        port = free_port()
        url = f"http://127.0.0.1:{port}/video.mjpg"
        loop = (f"while true; do ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=25 "
                f"-c:v mjpeg -q:v 5 -f mpjpeg -listen 1 {url}; sleep 0.05; done")
        return subprocess.Popen(["bash", "-c", loop], start_new_session=True), url

    def stop(process):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)

    server, url = serve()
    try:
        time.sleep(0.5)
        camera = [{"id": "mjpeg", "source": {"type": "http", "url": url, "format": "mjpeg"},
                   "sinks": [{"type": "hls", "idle_timeout": 3600}]}]
        cpu, rss, online = gateway_run(args.binary, camera, args.warmup, args.window)
    finally:
        stop(server)
    server, url = serve()
    try:
        time.sleep(0.5)
        job = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "23", "-g", "50", "-pix_fmt", "yuv420p",
               *HLS_JOB[2:]]  # HLS_JOB without its -c copy
        ffmpeg_cpu, ffmpeg_rss = ffmpeg_run([(["-f", "mpjpeg", "-i", url], job)], args.warmup, args.window)
    finally:
        stop(server)
    print(f"\nMJPEG 720p25 over HTTP → one H.264 encode (veryfast, crf 23) + HLS, CPU over {args.window:.0f} s:\n")
    row("job", "online", "gateway CPU", "gateway RSS", "baseline", "ffmpeg CPU", "ffmpeg RSS", "CPU ratio")
    row("-" * 34, "-" * 9, "-" * 16, "-" * 16, "-" * 26, "-" * 16, "-" * 16, "-" * 10)
    row("1 MJPEG camera transcoded at 720p", f"{online}/1", f"{100 * cpu / args.window:.1f}%", f"{rss / 1024:.0f} MiB",
        "1 ffmpeg libx264 → hls", f"{100 * ffmpeg_cpu / args.window:.1f}%", f"{ffmpeg_rss / 1024:.0f} MiB",
        f"{ffmpeg_cpu / cpu:.1f}x" if cpu > 0 else "-")


if __name__ == "__main__":
    main()
