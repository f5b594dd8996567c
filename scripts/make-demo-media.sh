#!/usr/bin/env bash
# Generates the demo camera's video (media/demo.mp4): 20 s of a moving test pattern with a
# clock, H.264 with a 2 s GOP, and a tone in AAC. Skipped when the file exists.
set -euo pipefail
out="${1:-media/demo.mp4}"
[ -s "$out" ] && exit 0
mkdir -p "$(dirname "$out")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t 20 -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 50 -keyint_min 50 -sc_threshold 0 -b:v 2M \
  -c:a aac -b:a 96k -movflags +faststart "$out.tmp.mp4"
mv "$out.tmp.mp4" "$out"
