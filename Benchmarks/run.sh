#!/usr/bin/env bash
# Benchmarks, each against a baseline measured in the same run, printed as tables:
#   media    — the media core (demux + fMP4 remux, hub fan-out) against ffmpeg processes
#   socketio — Socket.IO event rate against python-socketio's server; fan-out to 100 and 1,000 viewers
#   hls      — hub-to-playlist latency with and without LL-HLS; requests/s against nginx (wrk)
#   recording — clipper + recorder CPU and clipper memory against two ffmpeg segment processes
#   storage  — API and authorized HLS requests/s on SQLite, PostgreSQL and MongoDB, with and without Redis
#   events   — events/s and CPU per event through the spool to MQTT and PostgreSQL, against
#              mosquitto_pub -q 1 and psql with one INSERT per event (EVENTS_COUNT=20000)
#   uploads  — upload MB/s, CPU and peak RSS while a 1 GB file streams in, against dd to the same
#              disk; processing seconds per minute of video (copy, transcode) against ffmpeg
#              (UPLOAD_SIZE_MB=1024)
#   cameras  — CPU, RSS and PSS for 1, 20 and 100 file and RTSP cameras (hls + recorder + clipper,
#              1080p25 H.264 4 Mbit/s + AAC) against three ffmpeg -c copy processes per camera (the
#              seeds' way), each camera's lag; ingest alone and each sink alone; a pure remux as the
#              floor; one MJPEG camera transcoded at 720p
#              (CAMERA_COUNTS=0,5  CAMERA_SINKS=websocket,hls,recorder  CAMERA_BEFORE=path/to/older/gateway)
#   scale    — 250 file cameras with hls + clipper, 100 of them recording: does every camera keep
#              real time (lag from /api/health, dropped packets), CPU, RSS and PSS per camera
#              (SCALE_CAMERAS=250,100)
# Usage: Benchmarks/run.sh [media|socketio|hls|recording|storage|events|uploads|cameras|scale|all] [seconds-of-media] [repetitions]
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
seconds="${2:-60}"
repetitions="${3:-5}"
if [ "$which" = "socketio" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  ./scripts/python-env.sh
  .venv/bin/pip install --quiet --disable-pip-version-check -r Benchmarks/requirements.txt
  swift build -c release --product gateway >&2
  swift build -c release --product socketio-conformance-server >&2
  fanout_media="Benchmarks/.media/fanout-320x240.mp4"
  if [ ! -s "$fanout_media" ]; then
    mkdir -p "$(dirname "$fanout_media")"
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=320x240:rate=25" -t 30 -c:v libx264 -preset ultrafast \
      -g 25 -keyint_min 25 -sc_threshold 0 -b:v 300k -pix_fmt yuv420p "$fanout_media.tmp.mp4"
    mv "$fanout_media.tmp.mp4" "$fanout_media"
  fi
  ulimit -n 20000 2>/dev/null || true
  echo "Socket.IO:"
  .venv/bin/python Benchmarks/socketio_bench.py .build/release/gateway .build/release/socketio-conformance-server \
    "$PWD/$fanout_media" 100 1000
fi
if [ "$which" = "hls" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  command -v wrk >/dev/null && command -v nginx >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
  }
  swift build -c release --product gateway >&2
  swift build -c release --product GatewayBench >&2
  hls_media="Benchmarks/.media/fanout-320x240.mp4"
  mkdir -p "$(dirname "$hls_media")"
  [ -s "$hls_media" ] || ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=320x240:rate=25" -t 30 -c:v libx264 \
    -preset ultrafast -g 25 -keyint_min 25 -sc_threshold 0 -b:v 300k -pix_fmt yuv420p "$hls_media"
  echo "HLS:"
  ./Benchmarks/hls_bench.sh "$PWD/$hls_media"
fi
if [ "$which" = "recording" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  swift build -c release --product GatewayBench >&2
  echo "Recording:"
  ./Benchmarks/recording_bench.sh "$PWD/Benchmarks/.media/fanout-320x240.mp4" 30
fi
if [ "$which" = "cameras" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  swift build -c release --product gateway >&2
  cameras_media="Benchmarks/.media/cameras-1080p-aac-120s.mp4"
  if [ ! -s "$cameras_media" ]; then
    mkdir -p "$(dirname "$cameras_media")"
    echo "making 120 s of 1080p25 H.264 at 4 Mbit/s + AAC (once)…" >&2
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
      -t 120 -c:v libx264 -preset ultrafast -b:v 4M -minrate 4M -maxrate 4M -bufsize 4M -x264-params nal-hrd=cbr -g 50 -keyint_min 50 \
      -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k "$cameras_media.tmp.mp4"
    mv "$cameras_media.tmp.mp4" "$cameras_media"
  fi
  echo "Cameras:"
  python3 Benchmarks/cameras_bench.py .build/release/gateway "$cameras_media" --counts "${CAMERA_COUNTS:-1,20,100}" --kinds "${CAMERA_KINDS:-file,rtsp}" \
    --sinks "${CAMERA_SINKS:-hls,recorder,clipper}" ${CAMERA_BEFORE:+--before "$CAMERA_BEFORE"} --breakdown --reference --unpaced --mjpeg
fi
if [ "$which" = "scale" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  swift build -c release --product gateway >&2
  cameras_media="Benchmarks/.media/cameras-1080p-aac-120s.mp4"
  [ -s "$cameras_media" ] || { echo "run 'Benchmarks/run.sh cameras' once first: it makes $cameras_media" >&2; exit 1; }
  ulimit -n 65536 2>/dev/null || true
  echo "Scale:"
  python3 Benchmarks/cameras_bench.py .build/release/gateway "$cameras_media" --counts "" --scale "${SCALE_CAMERAS:-250,100}"
fi
if [ "$which" = "storage" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  ./scripts/python-env.sh
  command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  swift build -c release --product gateway >&2
  storage_media="Benchmarks/.media/fanout-320x240.mp4"
  [ -s "$storage_media" ] || { mkdir -p "$(dirname "$storage_media")"; ffmpeg -hide_banner -loglevel error -y -f lavfi \
    -i "testsrc2=size=320x240:rate=25" -t 30 -c:v libx264 -preset ultrafast -g 25 -keyint_min 25 -sc_threshold 0 -b:v 300k \
    -pix_fmt yuv420p "$storage_media"; }
  trap './scripts/test-servers.sh stop' EXIT
  ./scripts/test-servers.sh start >&2
  # shellcheck source=/dev/null
  source .test-servers/env
  echo "Storage:"
  python3 Benchmarks/storage_bench.py .build/release/gateway "$storage_media"
fi
if [ "$which" = "events" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  ./scripts/python-env.sh
  swift build -c release --product GatewayBench >&2
  trap './scripts/test-servers.sh stop' EXIT
  ./scripts/test-servers.sh start >&2
  # shellcheck source=/dev/null
  source .test-servers/env
  echo "Events:"
  ./Benchmarks/events_bench.sh "${EVENTS_COUNT:-20000}"
fi
if [ "$which" = "uploads" ] || [ "$which" = "all" ]; then
  ./scripts/install-deps.sh
  swift build -c release --product gateway >&2
  echo "Uploads:"
  python3 Benchmarks/uploads_bench.py .build/release/gateway --size-mb "${UPLOAD_SIZE_MB:-1024}"
fi
[ "$which" = "media" ] || [ "$which" = "all" ] || exit 0
media="Benchmarks/.media/bench-1080p-${seconds}s.mp4"
./scripts/install-deps.sh
if [ ! -s "$media" ]; then
  mkdir -p "$(dirname "$media")"
  echo "making $seconds s of 1080p25 H.264 at 4 Mbit/s with AAC (once)…" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$seconds" \
    -c:v libx264 -preset ultrafast -b:v 4M -maxrate 4M -bufsize 8M -g 50 -pix_fmt yuv420p \
    -c:a aac -b:a 128k "$media.tmp.mp4"
  mv "$media.tmp.mp4" "$media"
fi
swift build -c release --product GatewayBench >&2
results=$(.build/release/GatewayBench "$media" "$repetitions")
value() { echo "$results" | awk -v k="$1" '$1 == k { print $2 }'; }

# ffmpeg doing the same remux: CPU time (user + system) of the child, best of N.
ffmpeg_best=""
for _ in $(seq "$repetitions"); do
  TIMEFORMAT='%3U %3S'
  t=$( { time ffmpeg -hide_banner -loglevel error -i "$media" -c copy -f mp4 \
          -movflags frag_keyframe+empty_moov -y /dev/null >/dev/null 2>&1; } 2>&1 | tail -1 | awk '{ printf "%.1f", ($1 + $2) * 1000 }')
  if [ -z "$ffmpeg_best" ] || awk -v a="$t" -v b="$ffmpeg_best" 'BEGIN { exit !(a < b) }'; then ffmpeg_best="$t"; fi
done

remux=$(value remux_cpu_ms)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "-" }'; }
row() { printf "| %-40s | %12s | %15s | %8s | %24s | %9s |\n" "$@"; }
echo
echo "Media: $(value media_seconds) s of 1080p25 H.264 4 Mbit/s + AAC, $(value packets) packets; best of $repetitions; CPU = user + system."
echo
row "benchmark" "gateway CPU" "per packet·reader" "dropped" "baseline CPU (same run)" "baseline ÷ gateway"
row "----------------------------------------" "------------" "---------------" "--------" "------------------------" "---------"
row "demux + remux to fMP4 in memory" "$remux ms" "-" "-" "$ffmpeg_best ms ffmpeg -c copy" "$(ratio "$remux" "$ffmpeg_best")"
for readers in 1 100 1000; do
  cpu=$(value "fanout_${readers}_cpu_ms")
  # The seeds' way: one ffmpeg process per viewer, each doing the whole job again.
  baseline=$(awk -v f="$ffmpeg_best" -v n="$readers" 'BEGIN { printf "%.0f", f * n }')
  row "hub fan-out to $readers reader(s)" "$cpu ms" "$(value "fanout_${readers}_ns_per_packet_reader") ns" \
      "$(value "fanout_${readers}_dropped")" "$baseline ms ffmpeg × $readers" "$(ratio "$cpu" "$baseline")"
done
for readers in 1 100 1000; do
  row "hub fan-out to $readers reader(s), batched" "-" "$(value "fanout_batched_${readers}_ns_per_packet_reader") ns" \
      "$(value "fanout_batched_${readers}_dropped")" "per-packet readers (above)" "-"
done
echo
echo "ffmpeg's CPU includes its process start-up, which a per-viewer ffmpeg pays too."
echo "Fan-out baseline: the seeds run one ffmpeg per viewer: the measured single ffmpeg remux × readers."
echo "'dropped' counts packets a reader skipped while waiting for its first keyframe (audio before the first video frame)."
echo "Batched: readers woken once per 100 ms batch (nextBatch), the hub publishing 64 packets at a time, as the fragmenter and clipper read."
