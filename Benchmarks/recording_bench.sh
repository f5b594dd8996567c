#!/usr/bin/env bash
# Clipper + recorder for one camera in real time: the gateway's CPU per camera and the clipper's
# memory (against pre_seconds × bitrate), and in the same run the seeds' way: one
# `ffmpeg -c copy -f segment` process for the rolling buffer and one for the recording.
# Usage: Benchmarks/recording_bench.sh MEDIA_FILE [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
media="$1"
seconds="${2:-30}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$(.build/release/GatewayBench recording-load "$media" "$seconds" 2>/dev/null)
value() { echo "$results" | awk -v k="$1" '$1 == k { print $2 }'; }
TIMEFORMAT='%3U %3S'
cpu_of() { { time "$@" >/dev/null 2>&1 || true; } 2>&1 | tail -1 | awk '{ printf "%.1f", ($1 + $2) * 1000 }'; }
cpu_of timeout "$seconds" ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$media" -c copy -f segment \
  -segment_time 10 -segment_wrap 6 "$work/buffer%d.ts" > "$work/buffer.cpu" &
cpu_of timeout "$seconds" ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$media" -c copy -f segment \
  -segment_time 600 "$work/record%d.mp4" > "$work/record.cpu"
wait
buffer_cpu=$(cat "$work/buffer.cpu")
record_cpu=$(cat "$work/record.cpu")
ffmpeg_per_s=$(awk -v a="$buffer_cpu" -v b="$record_cpu" -v s="$seconds" 'BEGIN { printf "%.1f", (a + b) / s }')
row() { printf "| %-52s | %18s | %28s |\n" "$@"; }
echo
row "benchmark (one camera, $seconds s real time)" "gateway" "baseline (same run)"
row "----------------------------------------------------" "------------------" "----------------------------"
row "CPU for clipper + recorder" "$(value record_cpu_ms_per_s) ms/s" "$ffmpeg_per_s ms/s 2 ffmpeg processes"
row "clipper memory (pre_seconds 10)" "$(( $(value clipper_buffered_bytes) / 1024 )) KiB" "10 s × bitrate = $(( $(value clipper_expected_bytes) / 1024 )) KiB"
echo
echo "The gateway figure includes demuxing the file (its one ingest); the ffmpeg processes each demux it again."
