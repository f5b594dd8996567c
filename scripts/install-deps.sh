#!/usr/bin/env bash
# Installs the Debian packages the gateway builds and tests with. Safe to re-run: it installs
# only what is missing, and runs apt-get update only then.
set -euo pipefail
packages=(ffmpeg pkg-config libavformat-dev libavcodec-dev libavdevice-dev libavutil-dev libswscale-dev libswresample-dev zlib1g-dev python3-venv
  linux-libc-dev
  # GStreamer's RTSP server, the test peer for the rtsp source (run with /usr/bin/python3)
  gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # storage servers the tests start on loopback (scripts/test-servers.sh)
  postgresql-15 redis-server
  # the MQTT broker and its clients (mosquitto_sub) for the MQTT event backend's tests
  mosquitto mosquitto-clients
  # C client libraries of the storage backends
  libmongoc-dev libhiredis-dev
  # C client library of the MQTT event backend
  libmosquitto-dev
  # a real browser for the tests of what browsers play (Selenium drives it)
  chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
