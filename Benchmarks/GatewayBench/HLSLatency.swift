import Foundation
import GatewayCore
import Logging
import Sinks
import SourcesFile
import Synchronization
import JSON

/// Latency from a frame entering the hub to the HLS segment (or LL-HLS part) that holds it
/// being listed in the playlist, for every frame of `seconds` of real-time playback.
enum HLSLatency {
    /// Records when each video frame (by media time from the first keyframe) entered the hub.
    final class Entering: SourceOutput, @unchecked Sendable {
        let hub: StreamHub
        let times = Mutex<[Int: Double]>([:])
        let origin = Mutex<Int64?>(nil)

        init(hub: StreamHub) { self.hub = hub }

        func begin(_ streams: StreamSet) { hub.begin(streams) }

        func publish(_ packet: MediaPacket) {
            if packet.kind == .video, let dts = packet.dts {
                let micros = packet.timeBase.rescale(dts, to: .microseconds)
                let first = origin.withLock { origin -> Int64? in
                    if origin == nil, packet.isKeyframe { origin = micros }
                    return origin
                }
                if let first { times.withLock { $0[Int((micros - first) / 1000)] = MonotonicTime.seconds() } }
            }
            hub.publish(packet)
        }
    }

    static let warmUpMillis = 4000

    static func measure(file: String, lowLatency: Bool, seconds: Int) async throws -> [Double] {
        let logger = Logger(label: "bench")
        let context = PluginContext(id: "bench", logger: logger, dataDirectory: "/tmp", events: EventBus(logger: logger))
        let hub = StreamHub(cameraID: "bench")
        let options: [(key: String, value: JSONValue)] = [("segment_duration", .int(2)), ("part_duration", .double(lowLatency ? 0.2 : 0)),
                                                          ("idle_timeout", .int(3600))]
        guard let configuration = ConfigDecoder.decode(HLSSinkConfiguration.self, from: .object(JSONObject(options))).value else { return [] }
        let sink = try HLSSink(configuration: configuration, context: context, hub: hub)
        let source = try FileSource(configuration: .init(path: file, loop: true), context: context)
        let entering = Entering(hub: hub)
        var latencies: [Double] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sink.run() }
            group.addTask { await hub.fragmenter.run(logger: logger) }
            await sink.touch(player: "bench")
            while !hub.tapNames.contains("fragmenter") || hub.fragmenter.fragments.viewerCount < 1 {
                try await Task.sleep(for: .milliseconds(5))
            }
            group.addTask { try? await source.run(output: entering) }
            var seen: Set<String> = []
            var mediaMillis = 0
            let end = MonotonicTime.seconds() + Double(seconds)
            while MonotonicTime.seconds() < end {
                await sink.touch(player: "bench")
                guard let text = try? await sink.mediaPlaylist(query: "", blockUntil: nil) else {
                    try await Task.sleep(for: .milliseconds(5))
                    continue
                }
                let now = MonotonicTime.seconds()
                var duration: Double?
                for line in text.split(separator: "\n") {
                    var entry: (name: String, duration: Double)?
                    if lowLatency, line.hasPrefix("#EXT-X-PART:DURATION=") {
                        let fields = line.dropFirst("#EXT-X-PART:DURATION=".count).split(separator: ",")
                        let name = fields[1].dropFirst(5).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                        entry = (name, Double(fields[0]) ?? 0)
                    } else if !lowLatency, line.hasPrefix("#EXTINF:") {
                        duration = Double(line.dropFirst(8).split(separator: ",")[0])
                    } else if !lowLatency, line.hasPrefix("seg-"), let segmentDuration = duration {
                        entry = (String(line), segmentDuration)
                    }
                    guard let entry, seen.insert(entry.name).inserted else { continue }
                    // Every frame of this entry became visible now.
                    let first = mediaMillis, last = mediaMillis + Int((entry.duration * 1000).rounded())
                    let entered = entering.times.withLock { times in times.filter { $0.key >= first && $0.key < last }.map(\.value) }
                    // The playlist is first served once a whole segment exists: skip that warm-up.
                    if first >= warmUpMillis { latencies += entered.map { now - $0 } }
                    mediaMillis = last
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            group.cancelAll()
        }
        return latencies.sorted()
    }
}
