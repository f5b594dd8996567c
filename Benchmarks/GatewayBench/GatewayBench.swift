import GatewayCore
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// Measures the media core; `Benchmarks/run.sh` runs it next to ffmpeg and prints the table.
/// Output: one `name value` line per figure, for the script to read.
@main
struct GatewayBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            print("usage: gateway-bench FILE [repetitions]")
            exit(64)
        }
        if arguments[1] == "hls-latency", arguments.count >= 4 {
            // gateway-bench hls-latency FILE SECONDS
            for lowLatency in [true, false] {
                let sample = try await HLSLatency.measure(file: arguments[2], lowLatency: lowLatency, seconds: Int(arguments[3]) ?? 20)
                func percentile(_ fraction: Double) -> Double { sample.isEmpty ? .nan : sample[min(sample.count - 1, Int(Double(sample.count) * fraction))] }
                let name = lowLatency ? "ll" : "plain"
                print("hls_\(name)_frames \(sample.count)")
                print("hls_\(name)_p50_ms \(format(percentile(0.5) * 1000))")
                print("hls_\(name)_p99_ms \(format(percentile(0.99) * 1000))")
            }
            return
        }
        if arguments[1] == "events", arguments.count >= 5 {
            // gateway-bench events mqtt|postgres URL COUNT
            for (name, value) in try await EventsLoad.measure(backend: arguments[2], url: arguments[3], count: Int(arguments[4]) ?? 10_000) {
                print("\(name) \(value)")
            }
            return
        }
        if arguments[1] == "events-payload" {
            print(JSONWriter.string(EventsLoad.event(1).json))
            return
        }
        if arguments[1] == "recording-load", arguments.count >= 4 {
            // gateway-bench recording-load FILE SECONDS
            let seconds = Int(arguments[3]) ?? 30
            let load = try await RecordingLoad.measure(file: arguments[2], seconds: seconds, preSeconds: 10)
            print("record_cpu_ms_per_s \(format(load.cpu / Double(seconds) * 1000))")
            print("clipper_buffered_bytes \(load.buffered)")
            print("clipper_expected_bytes \(load.bitrate / 8 * 10)")
            return
        }
        let file = arguments[1]
        let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
        let (streams, packets) = try readAll(file)
        let mediaSeconds = duration(of: packets)
        print("media_seconds \(format(mediaSeconds))")
        print("packets \(packets.count)")

        // Demux + remux to fMP4 in memory, as the camera pipeline does; best of N.
        var best = Double.infinity
        var outputBytes = 0
        for _ in 0..<repetitions {
            let start = cpuSeconds()
            let demuxer = try Demuxer(url: file)
            let writer = try FragmentedMP4Writer(streams: demuxer.streams)
            var bytes = writer.initSegment.count
            while let packet = try demuxer.read() {
                if let fragment = try writer.append(packet) { bytes += fragment.bytes.count }
            }
            if let last = try writer.finish() { bytes += last.bytes.count }
            best = min(best, cpuSeconds() - start)
            outputBytes = bytes
        }
        print("remux_cpu_ms \(format(best * 1000))")
        print("remux_output_bytes \(outputBytes)")

        for readers in [1, 100, 1000] {
            let (cpu, dropped) = try await fanOut(streams: streams, packets: packets, readers: readers)
            let perPacketPerReader = cpu / Double(packets.count * readers) * 1e9
            print("fanout_\(readers)_ns_per_packet_reader \(format(perPacketPerReader))")
            print("fanout_\(readers)_cpu_ms \(format(cpu * 1000))")
            print("fanout_\(readers)_dropped \(dropped)")
            // The same readers woken per batch (as the camera's fragmenter and clipper read).
            progress("fan-out to \(readers) reader(s), per packet: done")
            let (batchedCPU, batchedDropped) = try await fanOut(streams: streams, packets: packets, readers: readers, batched: true)
            progress("fan-out to \(readers) reader(s), batched: done")
            print("fanout_batched_\(readers)_ns_per_packet_reader \(format(batchedCPU / Double(packets.count * readers) * 1e9))")
            print("fanout_batched_\(readers)_dropped \(batchedDropped)")
        }
    }

    /// Publishes every packet to a hub with `readers` readers draining concurrently; returns the
    /// process CPU time for publishing and delivering everything, and packets dropped.
    /// `batched`: readers woken per batch of packets (`wakeInterval`, `nextBatch()`), the hub
    /// publishing a GOP-sized batch at a time.
    static func fanOut(streams: StreamSet, packets: [MediaPacket], readers count: Int, batched: Bool = false) async throws -> (Double, Int) {
        let hub = StreamHub(cameraID: "bench")
        hub.begin(streams)
        let readers = (0..<count).map { hub.subscribe(name: "r\($0)", capacity: 4096, wakeInterval: batched ? .milliseconds(100) : .zero) }
        let start = cpuSeconds()
        let total = packets.count
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reader in readers {
                group.addTask {
                    var received = 0
                    func count(_ event: HubEvent) {
                        switch event {
                        case .packet: received += 1
                        case .skipped(let lost): received += lost
                        case .streams: break
                        }
                    }
                    // Skipped packets count as received (one notice tells how many); the drain
                    // below ends a reader that waits for a keyframe that never comes.
                    if batched {
                        while received < total, let batch = await reader.nextBatch() { batch.forEach(count) }
                    } else {
                        while received < total, let event = await reader.next() { count(event) }
                    }
                }
            }
            // Publish in GOP-sized bursts, like a camera, letting the readers catch up.
            if batched {
                var start = 0
                while start < packets.count {
                    let end = min(packets.count, start + 64)
                    hub.publish(contentsOf: Array(packets[start..<end]))
                    start = end
                    await Task.yield()
                }
            } else {
                for (index, packet) in packets.enumerated() {
                    hub.publish(packet)
                    if index % 64 == 63 { await Task.yield() }
                }
            }
            // Everything is published: once the readers took what they hold, end them. A reader
            // that overflowed near the end waits for a keyframe that never comes, so counting
            // alone would not end it.
            let deadline = ContinuousClock.now + .seconds(60)
            while readers.contains(where: { $0.statistics.queued > 0 }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            readers.forEach { $0.close() }
            try await group.waitForAll()
        }
        let cpu = cpuSeconds() - start
        let dropped = readers.reduce(0) { $0 + $1.statistics.dropped }
        readers.forEach { $0.close() }
        return (cpu, dropped)
    }

    /// A line on standard error, so that a run that stops shows where.
    static func progress(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    static func readAll(_ file: String) throws -> (StreamSet, [MediaPacket]) {
        let demuxer = try Demuxer(url: file)
        var packets: [MediaPacket] = []
        while let packet = try demuxer.read() { packets.append(packet) }
        return (demuxer.streams, packets)
    }

    static func duration(of packets: [MediaPacket]) -> Double {
        let times = packets.filter { $0.kind == .video }.compactMap(\.decodeSeconds)
        guard let first = times.min(), let last = times.max() else { return 0 }
        return last - first
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return "\(scaled)"
    }
}
