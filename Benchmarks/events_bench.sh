#!/usr/bin/env bash
# Event backends: COUNT events through the gateway's spool to MQTT (QoS 1) and to the PostgreSQL
# analytics table, against the same events sent in the same run by the usual tools:
# mosquitto_pub -q 1 -l (one publish per line) and psql with one INSERT per event (what a
# backend that writes each event as it comes does). Needs GATEWAY_TEST_MQTT_URL and
# GATEWAY_TEST_POSTGRES_URL (scripts/test-servers.sh start). CPU is the client process's
# (user + system); the broker's and the database's are not counted on either side.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20000}"
bench=.build/release/GatewayBench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mqtt_port=${GATEWAY_TEST_MQTT_URL##*:}
payload=$($bench events-payload)
python3 - "$count" "$payload" "$work" <<'PY'
import json, sys, uuid
count, payload, work = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
with open(f"{work}/payloads.txt", "w") as lines, open(f"{work}/inserts.sql", "w") as sql:
    sql.write("CREATE TABLE baseline_events (time timestamptz, id text, name text, category text, actor text, camera text, "
              "duration_seconds float8, bytes int8, details jsonb, PRIMARY KEY (id, time));\n")
    for index in range(count):
        payload["id"] = str(uuid.uuid4())
        text = json.dumps(payload, separators=(",", ":"))
        lines.write(text + "\n")
        sql.write("INSERT INTO baseline_events VALUES (now(), '%s', 'viewer.left', 'viewer', 'user1', 'camera1', 1.25, 1000, '%s');\n"
                  % (payload["id"], json.dumps(payload["details"])))
PY
database() {
  local name="bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  psql "$GATEWAY_TEST_POSTGRES_URL" -X -q -c "CREATE DATABASE $name" >/dev/null
  echo "${GATEWAY_TEST_POSTGRES_URL/\/postgres?//$name?}"
}
# Wall, user and system seconds of a command.
timed() { TIMEFORMAT='%3R %3U %3S'; { time "$@" >/dev/null 2>&1; } 2>&1 | tail -1; }

results=$($bench events mqtt "$GATEWAY_TEST_MQTT_URL" "$count")
results+=$'\n'$($bench events postgres "$(database)" "$count")
value() { echo "$results" | awk -v k="$1" '$1 == k { print $2 }'; }
read -r pub_wall pub_user pub_sys <<<"$(timed sh -c "mosquitto_pub -h 127.0.0.1 -p $mqtt_port -q 1 -t bench/baseline -l < $work/payloads.txt")"
read -r sql_wall sql_user sql_sys <<<"$(timed psql "$(database)" -X -q -f "$work/inserts.sql")"

row() { printf "| %-34s | %12s | %14s | %20s |\n" "$@"; }
per_second() { awk -v n="$count" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
cpu_us() { awk -v n="$count" -v u="$1" -v s="$2" 'BEGIN { printf "%.1f", (u + s) / n * 1e6 }'; }
echo
echo "Events: $count events (a viewer.left of $(echo -n "$payload" | wc -c) bytes) through one backend, emitted as fast as one thread can."
echo
row "what" "events/s" "CPU µs/event" "emit (on the caller)"
row "----------------------------------" "------------" "--------------" "--------------------"
row "gateway → spool → MQTT QoS 1" "$(value events_mqtt_per_second | cut -d. -f1)" "$(value events_mqtt_cpu_us_per_event)" "$(value events_mqtt_emit_ns) ns"
row "mosquitto_pub -q 1 -l" "$(per_second "$pub_wall")" "$(cpu_us "$pub_user" "$pub_sys")" "-"
row "gateway → spool → PostgreSQL" "$(value events_postgres_per_second | cut -d. -f1)" "$(value events_postgres_cpu_us_per_event)" "$(value events_postgres_emit_ns) ns"
row "psql, one INSERT per event" "$(per_second "$sql_wall")" "$(cpu_us "$sql_user" "$sql_sys")" "-"
echo
echo "The gateway's figures include the spool (each event written to disk with fdatasync per batch)."
