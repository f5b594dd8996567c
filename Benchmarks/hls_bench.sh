#!/usr/bin/env bash
# HLS benchmarks: (1) latency from a frame entering the hub to its LL-HLS part / HLS segment
# being listed (in-process, real-time file camera); (2) playlist and segment requests per second
# with wrk against the gateway (authorization on every request) and, in the same run, nginx
# serving the same files from disk. Usage: Benchmarks/hls_bench.sh MEDIA_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
media="$1"
work=$(mktemp -d)
cleanup() {
  [ -n "${gateway_pid:-}" ] && kill "$gateway_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT

latency=$(.build/release/GatewayBench hls-latency "$media" 20 2>/dev/null)
value() { echo "$latency" | awk -v k="$1" '$1 == k { print $2 }'; }

cat > "$work/plugins.json" <<JSON
{"server": {"port": 0, "data_dir": "$work/data", "cors_origins": ["http://bench.example"]}, "auth": {"jwt_secret": "hls-benchmark-secret-0123456789abcdef", "bcrypt_cost": 4},
 "users": [{"username": "bench", "password": "bench-password", "role": "admin"}], "events": [{"type": "log", "file": ""}],
 "cameras": [{"id": "bench", "owner": "bench", "source": {"type": "file", "path": "$media", "loop": true},
              "sinks": [{"type": "hls", "part_duration": 0, "idle_timeout": 3600}]}]}
JSON
.build/release/gateway serve --config "$work/plugins.json" --log-level notice 2> "$work/gateway.log" > /dev/null &
gateway_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/gateway.log" && break; sleep 0.1; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/gateway.log" | grep -o '[0-9]*$')
base="http://127.0.0.1:$port"
token=$(curl -s "$base/api/auth/login" -d '{"username": "bench", "password": "bench-password"}' | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
url=$(curl -s -XPOST "$base/api/cameras/bench/stream/start" -H "Authorization: Bearer $token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["streamUrl"])')
playlist="$base$url"
curl -s "$playlist" > "$work/index.m3u8"
segment=$(grep '^seg-' "$work/index.m3u8" | tail -1)
curl -s "$base/hls/bench/$segment" > "$work/seg.m4s"

# nginx's workers run as nobody: mktemp's directory is 0700, and they would answer 403s.
chmod 755 "$work"
mkdir -p "$work/www"
cp "$work/index.m3u8" "$work/www/index.m3u8"
cp "$work/seg.m4s" "$work/www/seg.m4s"
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; }
  server { listen 127.0.0.1:18081; root $work/www; }
}
CONF
nginx -c "$work/nginx.conf" -g 'daemon on;'
sleep 0.5

# Requests per second; a run with any answer but 2xx is refused (a 403 or an evicted segment's
# 404 is not what is measured), except where a 404 is what is asked for.
rate() {
  local out
  out=$(wrk -t2 -c64 -d8s "$@" 2>/dev/null)
  if [ "${expect_404:-}" != 1 ] && echo "$out" | grep -q "Non-2xx"; then
    echo "hls_bench: answers other than 2xx from ${*: -1}: $(echo "$out" | grep Non-2xx)" >&2
    exit 1
  fi
  echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}
# The newest segment, fetched just before its run: an older one leaves the window during it.
newest() { curl -s "$playlist" | grep '^seg-' | tail -1; }
for url in http://127.0.0.1:18081/index.m3u8 http://127.0.0.1:18081/seg.m4s; do
  code=$(curl -s -o /dev/null -w "%{http_code}" "$url")
  [ "$code" = 200 ] || { echo "hls_bench: nginx answers $code for $url" >&2; exit 1; }
done
gateway_playlist=$(rate "$playlist")
gateway_segment=$(rate "$base/hls/bench/$(newest)")
# A player on another origin (a browser page elsewhere, allowed by cors_origins): Origin on every
# request, CORS fields on every answer.
cross_playlist=$(rate -H "Origin: http://bench.example" "$playlist")
# The same requests through the router: a query parameter besides the token keeps them off the
# immediate path (what a player's first request, or one the immediate path cannot answer, costs).
routed() { rate "$1&via=router"; }
routed_playlist=$(routed "$playlist")
routed_segment=$(routed "$base/hls/bench/$(newest)")
floor=$(expect_404=1 rate "$base/no-such-route")
nginx_playlist=$(rate "http://127.0.0.1:18081/index.m3u8")
nginx_segment=$(rate "http://127.0.0.1:18081/seg.m4s")
size=$(stat -c %s "$work/seg.m4s")

row() { printf "| %-52s | %16s | %22s | %10s |\n" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
row "benchmark" "gateway" "baseline (same run)" "ratio"
row "----------------------------------------------------" "----------------" "----------------------" "----------"
row "LL-HLS: frame in hub → its part listed, p50 / p99" "$(value hls_ll_p50_ms) / $(value hls_ll_p99_ms) ms" "plain HLS (next row)" "-"
row "HLS: frame in hub → its segment listed, p50 / p99" "$(value hls_plain_p50_ms) / $(value hls_plain_p99_ms) ms" "-" "-"
row "playlist requests/s (wrk -c64, authorized)" "$gateway_playlist" "$nginx_playlist nginx (file)" "$(ratio "$gateway_playlist" "$nginx_playlist")"
row "segment requests/s ($((size / 1024)) KiB, authorized)" "$gateway_segment" "$nginx_segment nginx (file)" "$(ratio "$gateway_segment" "$nginx_segment")"
row "playlist requests/s from another origin (CORS)" "$cross_playlist" "$nginx_playlist nginx (file)" "$(ratio "$cross_playlist" "$nginx_playlist")"
row "playlist requests/s through the router" "$routed_playlist" "$nginx_playlist nginx (file)" "$(ratio "$routed_playlist" "$nginx_playlist")"
row "segment requests/s through the router" "$routed_segment" "$nginx_segment nginx (file)" "$(ratio "$routed_segment" "$nginx_segment")"
row "the server's floor: a 404 with no work, requests/s" "$floor" "$nginx_playlist nginx (playlist)" "$(ratio "$floor" "$nginx_playlist")"
echo
echo "Gateway requests carry a stream token: the token and the access decision are checked on every request (a decision is reused"
echo "for at most 1 s and dropped at once when access changes); playlists are rendered once per change; segments come from memory."
echo "A player's repeated plain requests are answered on the event loop (docs/hls.md, Serving); the 'through the router' rows show the other path."
