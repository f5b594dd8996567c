"""Uploads: how fast a large file streams in, and what processing costs, against baselines
measured in the same run on the same disk.

- Upload: a SIZE_MB MPEG-TS (a 1080p H.264 segment repeated: byte-wise concatenated TS stays
  valid) sent with curl as multipart/form-data; the time to the 202 answer (streamed to disk,
  probed, recorded), the gateway's CPU (user + system from /proc) and its peak RSS (VmHWM)
  against its RSS before. Baseline: `dd bs=1M` writing as many bytes to the same directory (the
  disk's own write speed, page cache included as the upload's is).
- Processing: seconds of processing per minute of video, for a 1080p25 H.264 + AAC file (stream
  copy) and a 720p25 MJPEG file (one H.264 encode), from accepted to ready. Baseline: ffmpeg
  doing the same job (`-c copy` to fMP4 HLS; `-c:v libx264 -preset veryfast` to fMP4 HLS).

Usage: python3 uploads_bench.py GATEWAY_BINARY [--size-mb 1024] [--minutes 1]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench_gateway

PASSWORD = "benchmark-password"


def ffmpeg(*arguments):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments], check=True)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return 0


def get(base, path, token):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def upload(base, token, path):
    started = time.time()
    result = subprocess.run(["curl", "-s", "-S", "-o", "-", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {token}",
                             "-F", f"video=@{path}", f"{base}/api/videos/upload"], capture_output=True, text=True, timeout=3600)
    elapsed = time.time() - started
    body, _, status = result.stdout.rpartition("\n")
    if status != "202":
        sys.exit(f"upload answered {status}: {body[:300]} {result.stderr}")
    return json.loads(body), elapsed


def wait_ready(base, token, video_id):
    """Seconds from the 202 until the video reads `ready`, polled every 10 ms (a copy takes a
    fraction of a second: a coarser poll would measure the poll)."""
    started = time.time()
    while True:
        video = get(base, f"/api/videos/{video_id}", token)
        if video["status"] == "ready":
            return time.time() - started
        if video["status"] == "failed":
            sys.exit(f"processing failed: {video.get('error')}")
        time.sleep(0.01)


def timed(command):
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--minutes", type=float, default=1)
    arguments = parser.parse_args()
    media = os.path.join(os.path.dirname(__file__), ".media")
    os.makedirs(media, exist_ok=True)
    seconds = int(arguments.minutes * 60)
    piece = os.path.join(media, "upload-piece-1080p.ts")
    if not os.path.exists(piece):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
               "-b:v", "20M", "-g", "50", "-pix_fmt", "yuv420p", "-f", "mpegts", piece)
    h264 = os.path.join(media, f"upload-{seconds}s-1080p.mp4")
    if not os.path.exists(h264):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
               "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M", "-g", "50", "-pix_fmt", "yuv420p",
               "-c:a", "aac", h264)
    mjpeg = os.path.join(media, f"upload-{seconds}s-720p.avi")
    if not os.path.exists(mjpeg):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", str(seconds), "-c:v", "mjpeg", "-q:v", "6",
               "-pix_fmt", "yuvj420p", mjpeg)

    config = {"auth": {"jwt_secret": "benchmark-secret-0123456789abcdef0123456789", "bcrypt_cost": 4},
              "users": [{"username": "uploader", "password": PASSWORD, "role": "admin"}],
              "uploads": {"max_bytes": (arguments.size_mb + 64) << 20, "workers": 1}}
    process, base, directory = bench_gateway.launch(arguments.binary, config, prefix="bench-uploads-")
    try:
        token = bench_gateway.login(base, "uploader", PASSWORD)
        big = os.path.join(directory, "big.ts")
        piece_bytes = open(piece, "rb").read()
        with open(big, "wb") as handle:
            written = 0
            while written < arguments.size_mb << 20:
                handle.write(piece_bytes)
                written += len(piece_bytes)
        size_mb = os.path.getsize(big) / (1 << 20)
        # The disk's own speed, into the same directory, first.
        target = os.path.join(directory, "data", "dd.bin")
        dd = timed(["dd", "if=" + big, "of=" + target, "bs=1M"])
        os.remove(target)
        rss_before = memory(process.pid, "VmRSS")
        cpu_before = cpu_seconds(process.pid)
        video, elapsed = upload(base, token, big)
        cpu = cpu_seconds(process.pid) - cpu_before
        peak = memory(process.pid, "VmHWM")
        os.remove(big)
        subprocess.run(["curl", "-s", "-X", "DELETE", "-H", f"Authorization: Bearer {token}", f"{base}/api/videos/{video['id']}"],
                       check=True, stdout=subprocess.DEVNULL)

        copy_video, _ = upload(base, token, h264)
        copy_seconds = wait_ready(base, token, copy_video["id"])
        transcode_video, _ = upload(base, token, mjpeg)
        transcode_seconds = wait_ready(base, token, transcode_video["id"])
    finally:
        process.terminate()
        process.wait(timeout=30)
    hls = os.path.join(tempfile.mkdtemp(prefix="bench-ffmpeg-"), "index.m3u8")
    ffmpeg_copy = timed(["ffmpeg", "-y", "-i", h264, "-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "4",
                         "-hls_playlist_type", "vod", hls])
    ffmpeg_transcode = timed(["ffmpeg", "-y", "-i", mjpeg, "-c:v", "libx264", "-preset", "veryfast", "-f", "hls",
                              "-hls_segment_type", "fmp4", "-hls_time", "4", "-hls_playlist_type", "vod", hls])

    def row(*cells):
        widths = (44, 14, 16, 30)
        print("| " + " | ".join(f"{cell:<{width}}" if index == 0 else f"{cell:>{width}}"
                                for index, (cell, width) in enumerate(zip(cells, widths))) + " |")

    per_minute = 60 / seconds
    print()
    print(f"Uploads: a {size_mb:.0f} MB file streamed in; {seconds} s of video processed (release build, 2 cores).")
    print()
    row("what", "gateway", "baseline", "baseline (same run)")
    row("-" * 44, "-" * 14, "-" * 16, "-" * 30)
    row("upload, MB/s (to the 202 answer)", f"{size_mb / elapsed:.0f}", f"{size_mb / dd:.0f}", "dd bs=1M to the same disk")
    row("gateway CPU while it streams in, s per GB", f"{cpu / size_mb * 1024:.2f}", "-", "-")
    row("gateway RSS before → peak, MiB", f"{rss_before} → {peak}", "-", "-")
    row("H.264 1080p copy, s per minute of video", f"{copy_seconds * per_minute:.1f}", f"{ffmpeg_copy * per_minute:.1f}",
        "ffmpeg -c copy → fMP4 HLS")
    row("MJPEG 720p transcode, s per minute of video", f"{transcode_seconds * per_minute:.1f}", f"{ffmpeg_transcode * per_minute:.1f}",
        "ffmpeg libx264 veryfast → HLS")
    print()
    print("The gateway's processing also writes the faststart MP4 and the thumbnail; ffmpeg's only the HLS.")


if __name__ == "__main__":
    main()
