#!/usr/bin/env bash
# Starts the real servers the tests use, each on a free loopback port with its own data
# directory under .test-servers/, and writes their addresses to .test-servers/env:
#   PostgreSQL 15 (initdb + pg_ctl into a /tmp directory; as root through `runuser -u postgres`,
#   which initdb needs),
#   Redis (redis-server), a MongoDB wire-protocol server (nx-27017 from PyPI, in .venv), and
#   Mosquitto (Debian's broker, with its own config and persistence file).
# Usage: scripts/test-servers.sh start | stop (and postgres DIR, postgres-down DIR, postgres-up DIR
# and mosquitto DIR, mosquitto-down DIR, mosquitto-up DIR for a test's own instance). `start` fails loudly when a server does not come up; `stop` ends
# each server by the PID it recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.test-servers"
pgbin=/usr/lib/postgresql/15/bin

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {  # name port seconds
  for _ in $(seq $(($3 * 10))); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $2), 0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "test-servers: $1 did not listen on 127.0.0.1:$2 within $3 s" >&2
  return 1
}

stop() {
  [ -d "$root" ] || return 0
  if [ -f "$root/postgres.dir" ]; then
    postgres_down "$(cat "$root/postgres.dir")" 2>/dev/null || true
    rm -rf "$(cat "$root/postgres.dir")"
  fi
  mosquitto_down "$root/mosquitto" 2>/dev/null || true
  for pidfile in "$root"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {  # DIR: a new instance there; prints its env lines
  local port password dir="$1"
  port=$(free_port)
  password="gateway-test-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  mkdir -p "$dir"
  printf '%s\n' "$password" > "$dir/pwfile"
  echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" > "$dir/options"
  [ "$(id -u)" -ne 0 ] || chown -R postgres "$dir"
  as_postgres "$pgbin/initdb" -D "$dir/data" -U gateway --pwfile="$dir/pwfile" --auth=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; echo "test-servers: initdb failed" >&2; return 1; }
  postgres_up "$dir"
  echo "export GATEWAY_TEST_POSTGRES_URL=postgres://gateway:$password@127.0.0.1:$port/postgres?sslmode=disable"
}

postgres_up() {  # DIR: starts the instance made there, on its port
  local dir="$1" port
  port=$(awk '{print $2}' "$dir/options")
  as_postgres "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(cat "$dir/options")" start >/dev/null \
    || { cat "$dir/server.log" >&2; echo "test-servers: PostgreSQL did not start" >&2; return 1; }
  wait_port PostgreSQL "$port" 30 >&2
}

postgres_down() {  # DIR
  [ -f "$1/data/postmaster.pid" ] || return 0
  as_postgres "$pgbin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

start_redis() {
  local port
  port=$(free_port)
  mkdir -p "$root/redis"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$root/redis" \
    --daemonize yes --pidfile "$root/redis.pid" --logfile "$root/redis/server.log" >/dev/null
  wait_port Redis "$port" 20
  echo "export GATEWAY_TEST_REDIS_URL=redis://127.0.0.1:$port" >> "$root/env"
}

start_mongodb() {
  local port
  port=$(free_port)
  mkdir -p "$root/mongodb"
  # Its own PID and log files: nx-27017 refuses to start while the default /tmp/nx_27017.pid names
  # a live process (another checkout's tests).
  nohup .venv/bin/nx-27017 --host 127.0.0.1 -p "$port" --data-dir "$root/mongodb" --pid-file "$root/mongodb/nx.pid" \
    --log-file "$root/mongodb/nx.log" >"$root/mongodb/server.log" 2>&1 &
  echo $! > "$root/mongodb.pid"
  wait_port "MongoDB (nx-27017)" "$port" 30 || { cat "$root/mongodb/server.log" >&2; return 1; }
  echo "export GATEWAY_TEST_MONGODB_URI=mongodb://127.0.0.1:$port" >> "$root/env"
}

start_mosquitto() {  # DIR: a broker of its own there (config, persistence, log); prints its env line
  local dir="$1" port
  port=$(free_port)
  mkdir -p "$dir"
  [ "$(id -u)" -ne 0 ] || chown -R "$(id -un)" "$dir"
  cat > "$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/
autosave_interval 1
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
pid_file $dir/mosquitto.pid
user $(id -un)
CONF
  echo "$port" > "$dir/port"
  mosquitto_up "$dir"
  echo "export GATEWAY_TEST_MQTT_URL=mqtt://127.0.0.1:$port"
}

mosquitto_up() {  # DIR: starts the broker configured there, on its port
  local dir="$1"
  mosquitto -c "$dir/mosquitto.conf" -d 2>>"$dir/mosquitto.log"
  wait_port Mosquitto "$(cat "$dir/port")" 20 >&2 || { cat "$dir/mosquitto.log" >&2; return 1; }
}

mosquitto_down() {  # DIR
  [ -s "$1/mosquitto.pid" ] || return 0
  local pid
  pid=$(cat "$1/mosquitto.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1/mosquitto.pid"
}

case "${1:-}" in
  start)
    stop
    rm -rf "$root"
    mkdir -p "$root"
    : > "$root/env"
    # PostgreSQL's own user must reach its directory: under /tmp, not inside a checkout that may
    # live in root's home.
    mktemp -d /tmp/gateway-test-pg.XXXXXX > "$root/postgres.dir"
    start_postgres "$(cat "$root/postgres.dir")" >> "$root/env"
    start_redis
    start_mongodb
    start_mosquitto "$root/mosquitto" >> "$root/env"
    echo "test servers: $(grep -o 'GATEWAY_TEST_[A-Z_]*=[a-z]*://[^ ]*' "$root/env" | sed -E 's#://[^@/]*@#://…@#' | tr '\n' ' ')"
    ;;
  stop) stop ;;
  # A PostgreSQL instance of a test's own (one it may stop and start): postgres DIR prints its
  # URL line; postgres-down DIR / postgres-up DIR stop and restart it on the same port.
  postgres) start_postgres "$2" ;;
  postgres-down) postgres_down "$2" ;;
  postgres-up) postgres_up "$2" ;;
  # Likewise a Mosquitto broker of a test's own: mosquitto DIR prints its URL line.
  mosquitto) start_mosquitto "$2" ;;
  mosquitto-down) mosquitto_down "$2" ;;
  mosquitto-up) mosquitto_up "$2" ;;
  *) echo "usage: $0 start | stop | postgres DIR | postgres-down DIR | postgres-up DIR | mosquitto DIR | mosquitto-down DIR | mosquitto-up DIR" >&2; exit 2 ;;
esac
