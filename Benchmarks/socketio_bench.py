"""Socket.IO benchmarks, printed as a table:
1. events per second (acknowledged round trips) against socketio-conformance-server and, in the
   same run, python-socketio's own server (the reference);
2. live fragment fan-out from one camera of the gateway to N Socket.IO viewers: the gateway's
   CPU per viewer and the delay from the hub publishing a fragment to a client receiving it.
Usage: socketio_bench.py GATEWAY_BINARY CONFORMANCE_BINARY MEDIA_FILE [viewers…]"""
import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import socketio

import bench_gateway

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, process, timeout=30):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def event_rate(url, round_trips, clients):
    """Acknowledged round trips per second over WebSocket, `clients` in parallel."""
    connected = []
    for _ in range(clients):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"])
        connected.append(client)

    async def run(client, count):
        for index in range(count):
            answer = await client.call("message-with-ack", index, timeout=10)
            assert answer == index or answer == [index], answer

    started = time.perf_counter()
    await asyncio.gather(*(run(client, round_trips // clients) for client in connected))
    elapsed = time.perf_counter() - started
    for client in connected:
        await client.disconnect()
    return (round_trips // clients) * clients / elapsed


async def viewer(session, ws_url, token, delays, counts, index, stop):
    async with session.ws_connect(ws_url, max_msg_size=0, heartbeat=None) as ws:
        await ws.receive()  # Engine.IO open
        await ws.send_str('40{"token":"%s"}' % token)
        reply = await ws.receive()
        assert reply.data.startswith("40{"), reply.data
        await ws.send_str('420["watch",{"cameraId":"bench"}]')
        published = None
        counts[index] = 0
        while not stop.is_set():
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                text = message.data
                if text == "2":
                    await ws.send_str("3")
                elif text.startswith('451-["video:fragment"'):
                    published = json.loads(text[4:])[1]["publishedAt"]
            elif message.type == aiohttp.WSMsgType.BINARY:
                if published is not None:
                    delays.append(time.time() - published)
                    counts[index] += 1
                    published = None
            else:
                break


async def fan_out(base, token, viewers, window, gateway_pid):
    delays, counts, stop = [], {}, asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws_url = base.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        tasks = []
        for index in range(viewers):
            tasks.append(asyncio.create_task(viewer(session, ws_url, token, delays, counts, index, stop)))
            if index % 50 == 49:
                await asyncio.sleep(0.05)
        await asyncio.sleep(3)  # everyone joined and got the GOP from the cache
        delays.clear()
        cpu_before, started = cpu_seconds(gateway_pid), time.time()
        await asyncio.sleep(window)
        cpu = cpu_seconds(gateway_pid) - cpu_before
        elapsed = time.time() - started
        received = len(delays)
        sample = sorted(delays)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return cpu / elapsed, sample, received


def percentile(sample, fraction):
    return sample[min(len(sample) - 1, int(len(sample) * fraction))] if sample else float("nan")


def main():
    gateway_binary, conformance_binary, media = sys.argv[1:4]
    viewer_counts = [int(v) for v in sys.argv[4:]] or [100, 1000]
    rows = []

    # 1. Event rate.
    ours = subprocess.Popen([conformance_binary], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reference = subprocess.Popen([sys.executable, os.path.join(HERE, "python_socketio_reference.py"), "3001"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(3000, ours)
        wait_port(3001, reference)
        for clients in (1, 10):
            before = cpu_seconds(ours.pid)
            ours_rate = asyncio.run(event_rate("http://127.0.0.1:3000", 4000, clients))
            ours_cpu = (cpu_seconds(ours.pid) - before) / 4000 * 1e6
            before = cpu_seconds(reference.pid)
            reference_rate = asyncio.run(event_rate("http://127.0.0.1:3001", 4000, clients))
            reference_cpu = (cpu_seconds(reference.pid) - before) / 4000 * 1e6
            rows.append((f"ack round trips/s, {clients} client(s)", f"{ours_rate:,.0f}", f"{reference_rate:,.0f} python-socketio",
                         f"{ours_rate / reference_rate:.1f}x"))
            rows.append((f"server CPU per round trip, {clients} client(s)", f"{ours_cpu:,.0f} µs", f"{reference_cpu:,.0f} µs python-socketio",
                         f"{reference_cpu / ours_cpu:.1f}x less"))
    finally:
        ours.terminate()
        reference.terminate()
        ours.wait()
        reference.wait()

    # 2. Fan-out.
    config = {"auth": {"jwt_secret": "benchmark-secret-0123456789abcdef01234", "bcrypt_cost": 4},
              "users": [{"username": "bench", "password": "bench-password", "role": "admin"}],
              "events": [{"type": "log", "file": ""}],
              "cameras": [{"id": "bench", "owner": "bench", "source": {"type": "file", "path": media, "loop": True},
                           "sinks": [{"type": "websocket"}]}]}
    gateway, base, _ = bench_gateway.launch(gateway_binary, config, log_level="notice", prefix="sio-bench-")
    try:
        token = bench_gateway.login(base, "bench", "bench-password")
        time.sleep(2)
        idle_before, idle_started = cpu_seconds(gateway.pid), time.time()
        time.sleep(5)
        idle = (cpu_seconds(gateway.pid) - idle_before) / (time.time() - idle_started)
        for viewers in viewer_counts:
            cpu, delays, received = asyncio.run(fan_out(base, token, viewers, 10, gateway.pid))
            per_viewer = (cpu - idle) / viewers * 1000
            rows.append((f"fan-out to {viewers} Socket.IO viewers", f"{per_viewer:.2f} ms CPU/s per viewer",
                         f"p50 {percentile(delays, 0.5) * 1000:.1f} ms, p99 {percentile(delays, 0.99) * 1000:.1f} ms",
                         f"{received} fragments"))
    finally:
        gateway.terminate()
        gateway.wait()

    print()
    print(f"| {'benchmark':<40} | {'gateway':>26} | {'reference / delay hub→client':>38} | {'ratio / received':>16} |")
    print(f"|{'-' * 42}|{'-' * 28}|{'-' * 40}|{'-' * 18}|")
    for row in rows:
        print(f"| {row[0]:<40} | {row[1]:>26} | {row[2]:>38} | {row[3]:>16} |")
    print()
    print(f"Gateway idle CPU with the camera running and no viewer: {idle * 1000:.1f} ms/s (subtracted from the per-viewer figure).")
    print("Round trips per second are bounded by the Python client on the same cores; the server's CPU per round trip")
    print("is the comparison that does not depend on the client.")
    print("Delay: wall clock from the fragment hub publishing a fragment to a client holding its bytes; the clients are")
    print("one Python asyncio process on the same 2 cores, so they are part of what is measured.")


if __name__ == "__main__":
    main()
