"""Cameras at scale: CPU, RSS and PSS of the gateway with N cameras, each with the sinks of
`--sinks` (default the whole job: hls + recorder + clipper), against the seeds' way measured in
the same run: per camera one `ffmpeg -c copy` process per job (HLS; 60 s recording segments; a
rolling 2 s x 15 segment buffer for clips; an fMP4 stream for WebSocket viewers). With
`--breakdown`, 20 file cameras with no sink, then with each sink alone (what each adds). With
`--reference`, a pure remux (ffmpeg demux + fMP4 mux to /dev/null, as fast as it goes) as the
floor. Also one MJPEG camera transcoded at 720p against an ffmpeg process doing the same
transcode (`--mjpeg`). `--before OTHER_BINARY` measures a second gateway build (an older commit)
on the same cameras in the same run; `--beside OTHER_BINARY` runs both at the same time (file
cameras, order swapped in a second run), the comparison that holds on a noisy machine.

Usage: python3 cameras_bench.py GATEWAY_BINARY MEDIA_1080P.mp4 [--counts 1,20,100] [--window 30]
       [--kinds file,rtsp] [--sinks hls,recorder,clipper] [--breakdown] [--reference] [--before BINARY] [--beside BINARY] [--mjpeg]
CPU is user + system time over the window (from /proc), after a warm-up (40 s by default: past
the clipper's 30 s pre-roll, the steady state; `--warmup 10` includes the pre-roll filling); RSS and PSS
(smaps_rollup) at the end. The gateway's lag is the most any camera's `max_lag_seconds` in
/api/health reached, with the packets its sinks dropped.
"""
import argparse
import concurrent.futures
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


def pss_kib(pid):
    try:
        match = re.search(r"^Pss:\s+(\d+) kB", open(f"/proc/{pid}/smaps_rollup").read(), re.M)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def measure(pids, warmup, window):
    """CPU seconds over `window` after `warmup`, and RSS and PSS (KiB) at the end, summed over `pids`."""
    time.sleep(warmup)
    for pid in pids:
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit(f"process {pid} died during the warm-up")
    start = sum(cpu_seconds(pid) for pid in pids)
    time.sleep(window)
    cpu = sum(cpu_seconds(pid) for pid in pids) - start
    return cpu, sum(rss_kib(pid) for pid in pids), sum(pss_kib(pid) for pid in pids)


def request(url, data=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET"), timeout=30) as r:
        return r.read()


def has_audio(media):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name", "-of", "csv=p=0", media],
                           capture_output=True, text=True)
    return bool(probe.stdout.strip())


class RTSPServer:
    """GStreamer's RTSP server replaying the file (no re-encoding) from its start for each client."""

    def __init__(self, media):
        self.port = free_port()
        audio = "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97" if has_audio(media) else ""
        script = f"""
import gi, signal
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer(); server.set_address("127.0.0.1"); server.set_service("{self.port}")
factory = GstRtspServer.RTSPMediaFactory(); factory.set_shared(False)
factory.set_launch("( filesrc location={media} ! qtdemux name=d d.video_0 ! queue ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 {audio} )")
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


def start_hls(base, token, cameras):
    """Starts the HLS muxer of every camera that has an `hls` sink (it muxes from its first
    request on; idle_timeout keeps it running), 16 at a time."""
    def start(camera):
        stream = json.loads(request(f"{base}/api/cameras/{camera['id']}/stream/start", {}, token))
        for _ in range(150):
            try:
                request(base + stream["streamUrl"].replace("index.m3u8", "master.m3u8"))
                return
            except Exception:
                time.sleep(0.2)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(start, [c for c in cameras if any(sink["type"] == "hls" for sink in c["sinks"])]))


def gateway_config(cameras):
    """plugins.json for a benchmark gateway: one admin, these cameras."""
    return {"auth": {"jwt_secret": "benchmark-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
            "users": [{"username": "admin", "password": PASSWORD, "role": "admin"}], "cameras": cameras}


def gateway_run(binary, cameras, warmup, window):
    """(cpu seconds, rss KiB, pss KiB, cameras online, worst lag in the window, packets dropped in the window)."""
    process, base, directory = bench_gateway.launch(binary, gateway_config(cameras), prefix="bench-cameras-")
    try:
        token = bench_gateway.login(base, "admin", PASSWORD)
        start_hls(base, token, cameras)

        def health():
            return json.loads(request(f"{base}/api/health", token=token))["cameras"]

        time.sleep(warmup)
        if process.poll() is not None:
            sys.exit("the gateway died during the warm-up")
        dropped_before = sum(c.get("dropped_packets", 0) for c in health())
        # CAMERAS_PERF=FILE: a call-graph profile of the gateway over the window (`perf report -i FILE`);
        # CAMERAS_PERF_DWARF=1 unwinds with DWARF (through libraries built without frame pointers).
        if os.environ.get("CAMERAS_PERF"):
            graph = ["--call-graph", "dwarf,16384"] if os.environ.get("CAMERAS_PERF_DWARF") else ["-g"]
            if os.environ.get("CAMERAS_PERF_STAT"):  # counts instead: page faults, context switches
                subprocess.Popen(["perf", "stat", "-e", "page-faults,context-switches,task-clock", "-o", os.environ["CAMERAS_PERF"],
                                  "-p", str(process.pid), "--", "sleep", str(window)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                subprocess.Popen(["perf", "record", *graph, "-q", "-o", os.environ["CAMERAS_PERF"], "-p", str(process.pid), "--", "sleep", str(window)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start, began = cpu_seconds(process.pid), time.time()
        worst = 0.0
        # The lag of every camera, looked at every 5 s through the window.
        while time.time() - began < window:
            time.sleep(min(5, max(0, window - (time.time() - began))))
            worst = max([worst] + [c.get("lag_seconds", 0) for c in health()])
        cpu = cpu_seconds(process.pid) - start
        cameras_now = health()
        online = sum(1 for c in cameras_now if c["state"] == "online")
        dropped = sum(c.get("dropped_packets", 0) for c in cameras_now) - dropped_before
        return cpu, rss_kib(process.pid), pss_kib(process.pid), online, worst, dropped
    finally:
        stop_gateway(process, directory)


def stop_gateway(process, directory, timeout=30):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(directory, ignore_errors=True)


def beside_run(binaries, cameras, warmup, window):
    """Two gateway builds at once on the same cameras, CPU of each over the same window: on a
    shared, noisy machine the only comparison of two builds that holds (sequential runs of one
    build moved by up to 40 %). Returns the CPU seconds of each, in the order given."""
    launched = []
    try:
        for binary in binaries:
            launched.append(bench_gateway.launch(binary, gateway_config(cameras), prefix="bench-beside-"))
        for _, base, _ in launched:
            start_hls(base, bench_gateway.login(base, "admin", PASSWORD), cameras)
        time.sleep(warmup)
        if any(process.poll() is not None for process, _, _ in launched):
            sys.exit("a gateway died during the warm-up")
        start = [cpu_seconds(process.pid) for process, _, _ in launched]
        time.sleep(window)
        return [cpu_seconds(process.pid) - before for (process, _, _), before in zip(launched, start)]
    finally:
        # Both are told at once, so an interruption while the first stops does not leave the second.
        for process, _, _ in launched:
            process.send_signal(signal.SIGTERM)
        for process, _, directory in launched:
            stop_gateway(process, directory)


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
    widths = (30, 8, 9, 20, 20, 20, 20, 8, 8)
    print("| " + " | ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(cells, widths))) + " |")


def header(*names):
    row(*names)
    row(*("-" * w for w in (30, 8, 9, 20, 20, 20, 20, 8, 8)))


def per_camera(cpu, window, count):
    return 100 * cpu / window / count


def camera_configs(count, source, sinks):
    return [{"id": f"cam{i}", "source": source, "sinks": [SINKS[name][0] for name in sinks]} for i in range(count)]


def scale_run(binary, media, total, recording, warmup, window):
    """Many cameras in one gateway: CPU, RSS and PSS per camera, and whether each keeps real time
    (its lag, read from /api/health every 5 s through the window, stays under a second and does
    not grow; no packet dropped)."""
    source = {"type": "file", "path": media, "loop": True}
    cameras = [{"id": f"cam{i}", "source": source,
                "sinks": [SINKS["hls"][0], SINKS["clipper"][0]] + ([SINKS["recorder"][0]] if i < recording else [])} for i in range(total)]
    print(f"\nScale: {total} file cameras (1080p25 4 Mbit/s + AAC) with hls + clipper, {recording} of them also recording; "
          f"{warmup:.0f} s warm-up, {window:.0f} s window, each camera's lag read from /api/health every 5 s.\n")
    process, base, directory = bench_gateway.launch(binary, gateway_config(cameras), prefix="bench-scale-")
    try:
        token = bench_gateway.login(base, "admin", PASSWORD)
        start_hls(base, token, cameras)

        def health():
            return {c["id"]: c for c in json.loads(request(f"{base}/api/health", token=token))["cameras"]}

        time.sleep(warmup)
        before = health()
        start, began = cpu_seconds(process.pid), time.time()
        samples = []
        while time.time() - began < window:
            time.sleep(min(5, max(0, window - (time.time() - began))))
            samples.append(health())
        cpu = cpu_seconds(process.pid) - start
        rss, pss = rss_kib(process.pid), pss_kib(process.pid)
        after = samples[-1]
        lags = {cid: [s[cid].get("lag_seconds", 0) for s in samples if cid in s] for cid in after}
        worst = max(max(values) for values in lags.values())
        late = sum(1 for values in lags.values() if max(values) >= 1)
        half = len(samples) // 2
        growing = sum(1 for values in lags.values() if half and min(values[half:]) > max(values[:half]) + 0.5)
        dropped = sum(after[cid].get("dropped_packets", 0) - before.get(cid, {}).get("dropped_packets", 0) for cid in after)
        online = sum(1 for c in after.values() if c["state"] == "online")
        fps = sorted(c.get("fps", 0) for c in after.values())
        header("cameras", "online", "max lag", "CPU/cam", "RSS/cam", "PSS/cam", "lag >= 1 s / growing", "dropped", "fps min")
        row(f"{total} ({recording} recording)", f"{online}/{total}", f"{worst:.2f} s", f"{per_camera(cpu, window, total):.3f}%",
            f"{rss / 1024 / total:.1f} MiB", f"{pss / 1024 / total:.1f} MiB", f"{late} / {growing}", str(dropped), f"{fps[0]:.1f}")
        print(f"\nThe whole gateway: {100 * cpu / window:.0f}% of one core (the machine has {os.cpu_count()}), RSS {rss / 1024:.0f} MiB. "
              f"Every camera keeps real time: {'yes' if online == total and late == 0 and growing == 0 and dropped == 0 else 'NO'}.")
    finally:
        stop_gateway(process, directory, timeout=60)


def remux_reference(media):
    """A pure remux of the whole file (demux + fMP4 mux to /dev/null, not real time): CPU per second of media, in %."""
    duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", media],
                                    capture_output=True, text=True).stdout.strip())
    runs = []
    for _ in range(3):
        before = os.times()
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", media, *FRAGMENT_JOB], check=True)
        after = os.times()
        runs.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
    return 100 * min(runs) / duration


def unpaced_run(binary, media, sinks, seconds=20):
    """One file camera read as fast as it goes (`pacing: none`): the gateway's CPU per second of
    media, in % of a core — what a real-time camera would cost with no wake-ups, sleeps or cold
    caches, only the work on its bytes. Media seconds are counted from the hub's packets
    (`gateway_camera_packets_total`) against the file's packets per second."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets:format=duration",
                            "-of", "json", media], capture_output=True, text=True, check=True)
    info = json.loads(probe.stdout)
    rate = sum(int(stream["nb_read_packets"]) for stream in info["streams"]) / float(info["format"]["duration"])
    cameras = camera_configs(1, {"type": "file", "path": media, "loop": True, "pacing": "none"}, sinks)
    process, base, directory = bench_gateway.launch(binary, gateway_config(cameras), prefix="bench-unpaced-")
    try:
        token = bench_gateway.login(base, "admin", PASSWORD)
        start_hls(base, token, cameras)

        def sample():
            metrics = request(base + "/metrics", token=token).decode()
            packets = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("gateway_camera_packets_total"))
            return packets, cpu_seconds(process.pid)

        time.sleep(5)
        packets0, cpu0 = sample()
        time.sleep(seconds)
        packets1, cpu1 = sample()
        return 100 * (cpu1 - cpu0) / ((packets1 - packets0) / rate)
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("media")
    parser.add_argument("--counts", default="1,20,100", help="0 measures the gateway without cameras")
    parser.add_argument("--kinds", default="file,rtsp", help="file, rtsp (the gateway's RTSP client), rtsp-libavformat")
    # Past the clipper's 30 s pre-roll: the steady state. While the pre-roll fills, every packet
    # lands on fresh pages (about 3,000 page faults a second for 20 cameras, a quarter of the
    # gateway's CPU); `--warmup 10` measures that filling too (issue 16's first method).
    parser.add_argument("--warmup", type=float, default=40)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--sinks", default="hls,recorder,clipper", help=f"of {', '.join(SINKS)}")
    parser.add_argument("--breakdown", action="store_true", help="20 file cameras: no sink, then each sink alone")
    parser.add_argument("--scale", help="TOTAL,RECORDING: TOTAL file cameras with hls + clipper, RECORDING of them also recording; "
                                        "does every camera keep real time?")
    parser.add_argument("--reference", action="store_true", help="a pure remux of the file, as the floor")
    parser.add_argument("--unpaced", action="store_true", help="one file camera as fast as it goes, ingest alone and with the sinks: "
                                                               "the work on the bytes, without real time's wake-ups")
    parser.add_argument("--before", help="another gateway binary (an older commit) measured on the same cameras")
    parser.add_argument("--beside", help="another gateway binary run at the same time as this one, on the same file cameras, "
                                         "twice with the order swapped (only the first of --counts; no ffmpeg)")
    parser.add_argument("--mjpeg", action="store_true")
    args = parser.parse_args()
    media = os.path.abspath(args.media)
    counts = [int(c) for c in args.counts.split(",") if c]
    sinks = args.sinks.split(",")
    if unknown := [name for name in sinks if name not in SINKS]:
        sys.exit(f"unknown sinks: {unknown}")

    if args.beside:
        count = counts[0] if counts else 20
        cameras = camera_configs(count, {"type": "file", "path": media, "loop": True}, sinks)
        print(f"\nSide by side: {count} file cameras each, sinks {' + '.join(sinks)}; CPU over the same {args.window:.0f} s after "
              f"{args.warmup:.0f} s warm-up (% of one core per camera).\n")
        print(f"| {'run':<26} | {'this build':>10} | {'beside':>10} | {'change':>7} |")
        print(f"| {'-' * 26} | {'-' * 10} | {'-' * 10} | {'-' * 7} |")
        for run, order in enumerate(((args.binary, args.beside), (args.beside, args.binary)), 1):
            # By position: the same binary twice (an A/A run, the noise) must give two figures.
            cpu = beside_run(list(order), cameras, args.warmup, args.window)
            ours, theirs = (per_camera(cpu[i], args.window, count) for i in ((0, 1) if run == 1 else (1, 0)))
            change = f"{(ours / theirs - 1) * 100:+.0f} %" if theirs else "-"
            print(f"| {f'{run} (' + ('this build first' if run == 1 else 'beside first') + ')':<26} | {ours:>9.3f}% | {theirs:>9.3f}% | {change:>7} |")
        return

    reference = remux_reference(media) if args.reference else None
    print(f"\nCameras: 1080p25 H.264 4 Mbit/s{' + AAC' if has_audio(media) else ''}, sinks {' + '.join(sinks)}; CPU over "
          f"{args.window:.0f} s after {args.warmup:.0f} s warm-up (% of one core per camera); RSS and PSS per camera at the end.\n")
    if counts:
        header("cameras", "online", "max lag", "gateway CPU/cam", "gateway PSS/cam", "ffmpeg CPU/cam", "ffmpeg PSS/cam", "CPU", "PSS")
    for kind in (args.kinds.split(",") if counts else []):
        server = RTSPServer(media) if kind.startswith("rtsp") else None
        try:
            for count in counts:
                if count == 0 and kind != args.kinds.split(",")[0]:
                    continue
                if kind.startswith("rtsp"):
                    source = {"type": "rtsp", "url": server.url, "client": "native" if kind == "rtsp" else "ffmpeg"}
                    input_args = ["-rtsp_transport", "tcp", "-i", server.url]
                else:
                    source = {"type": "file", "path": media, "loop": True}
                    input_args = ["-re", "-stream_loop", "-1", "-i", media]
                cameras = camera_configs(count, source, sinks)
                label = f"{count} {kind} camera{'s' if count != 1 else ''}" if count else "without cameras"
                if args.before:
                    b_cpu, b_rss, b_pss, b_online, b_lag, b_dropped = gateway_run(args.before, cameras, args.warmup, args.window)
                    row(f"before: {label}", f"{b_online}/{count}", f"{b_lag:.2f} s", f"{per_camera(b_cpu, args.window, max(count, 1)):.3f}%",
                        f"{b_pss / 1024 / max(count, 1):.1f} MiB", "-", "-", "-", "-")
                cpu, rss, pss, online, lag, dropped = gateway_run(args.binary, cameras, args.warmup, args.window)
                if count == 0:
                    row(label, "-", "-", f"{100 * cpu / args.window:.2f}%", f"{pss / 1024:.0f} MiB", "-", "-", "-", "-")
                    continue
                jobs = [(input_args, SINKS[name][1]) for _ in range(count) for name in sinks]
                f_cpu, f_rss, f_pss = ffmpeg_run(jobs, args.warmup, args.window)
                lag_text = f"{lag:.2f} s" + (f" ({dropped} dropped)" if dropped else "")
                row(label, f"{online}/{count}", lag_text, f"{per_camera(cpu, args.window, count):.3f}%",
                    f"{pss / 1024 / count:.1f} MiB", f"{per_camera(f_cpu, args.window, count):.3f}% ({len(jobs) // count} proc)",
                    f"{f_pss / 1024 / count:.1f} MiB", f"{cpu / f_cpu:.2f}x" if f_cpu > 0 else "-", f"{pss / f_pss:.2f}x" if f_pss else "-")
        finally:
            if server:
                server.stop()
    print("\nCPU and PSS columns: gateway / ffmpeg (lower is better for the gateway). RSS counts shared pages in each ffmpeg")
    print("process; PSS divides them among the processes that share them.")

    if args.scale:
        total, recording = (int(n) for n in args.scale.split(","))
        scale_run(args.binary, media, total, recording, args.warmup * 2, args.window * 2)

    if args.breakdown:
        count = 20
        print(f"\nWhere the gateway's CPU goes: {count} file cameras, ingest alone and each sink alone (% of a core per camera).\n")
        header("sinks", "online", "max lag", "gateway CPU/cam", "gateway PSS/cam", "adds CPU/cam", "", "", "")
        source = {"type": "file", "path": media, "loop": True}
        base = None
        for chosen in [[]] + [[name] for name in sinks]:
            cpu, rss, pss, online, lag, dropped = gateway_run(args.binary, camera_configs(count, source, chosen), args.warmup, args.window)
            value = per_camera(cpu, args.window, count)
            adds = "-" if base is None else f"{value - base:+.3f}%"
            base = value if base is None else base
            row(" + ".join(chosen) or "ingest only", f"{online}/{count}", f"{lag:.2f} s", f"{value:.3f}%", f"{pss / 1024 / count:.1f} MiB",
                adds, "", "", "")
    if args.unpaced:
        print("\nOne file camera read as fast as it goes (pacing: none): CPU per second of media (% of a core), what the work on")
        print("the bytes costs without real time's wake-ups and sleeps.\n")
        for chosen in ([], sinks):
            print(f"- {' + '.join(chosen) or 'ingest only'}: {unpaced_run(args.binary, media, chosen):.4f}%")
    if args.mjpeg:
        mjpeg_bench(args)
    if reference is not None:
        print(f"\nA pure remux of the file (ffmpeg demux + fMP4 mux to /dev/null, as fast as it goes): {reference:.4f}% of a core per "
              f"second of media, the floor for one camera's ingest.")
    print("\nThe clipper keeps its pre-roll in memory (30 s x 4 Mbit/s, about 15 MiB per camera); ffmpeg's rolling buffer is on disk.")
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
        cpu, rss, _, online, _, _ = gateway_run(args.binary, camera, args.warmup, args.window)
    finally:
        stop(server)
    server, url = serve()
    try:
        time.sleep(0.5)
        job = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "23", "-g", "50", "-pix_fmt", "yuv420p",
               *HLS_JOB[2:]]  # HLS_JOB without its -c copy
        ffmpeg_cpu, ffmpeg_rss, _ = ffmpeg_run([(["-f", "mpjpeg", "-i", url], job)], args.warmup, args.window)
    finally:
        stop(server)
    print(f"\nMJPEG 720p25 over HTTP → one H.264 encode (veryfast, crf 23) + HLS, CPU over {args.window:.0f} s:\n")
    header("job", "online", "", "gateway CPU", "gateway RSS", "baseline", "ffmpeg CPU", "CPU", "")
    row("MJPEG 720p → H.264 + HLS", f"{online}/1", "", f"{100 * cpu / args.window:.1f}%", f"{rss / 1024:.0f} MiB",
        "ffmpeg libx264 → hls", f"{100 * ffmpeg_cpu / args.window:.1f}%", f"{cpu / ffmpeg_cpu:.2f}x" if ffmpeg_cpu > 0 else "-", "")


if __name__ == "__main__":
    main()
