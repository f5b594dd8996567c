import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Logging
import Sinks
import Synchronization
import Testing

/// A camera's fMP4 is cut once, whatever the number of fMP4 sinks (issue 12, item 2).
@Suite struct CameraFragmenterTests {
    func sinkConfiguration<C: Decodable & Sendable>(_ type: C.Type, _ options: [(key: String, value: JSONValue)]) throws -> C {
        try #require(ConfigDecoder.decode(C.self, from: .object(JSONObject(options))).value)
    }

    @Test func websocketHLSAndRecorderShareOneFragmenter() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let storage = try await sqliteStorage(at: TestMedia.temporaryPath("fragmenter.sqlite"))
        let logger = Logger(label: "test")
        let context = PluginContext(id: "cam", logger: logger, dataDirectory: TestMedia.temporaryPath("fragmenter"),
                                    events: EventBus(logger: logger), storage: storage)
        let hub = StreamHub(cameraID: "cam")
        #expect(hub.requestedFragmenter == nil, "no fMP4 sink, no fragmenter")
        let websocket = try WebSocketSink(configuration: try sinkConfiguration(WebSocketSinkConfiguration.self, [("viewer_queue_fragments", .int(1000)), ("part_duration", .int(0))]),
                                      context: context, hub: hub)
        let hls = try HLSSink(configuration: try sinkConfiguration(HLSSinkConfiguration.self, [("segment_duration", .int(1)), ("part_duration", .double(0.5))]),
                              context: context, hub: hub)
        let recorder = try RecorderSink(configuration: try sinkConfiguration(RecorderSinkConfiguration.self, [("part_duration", .double(1))]),
                                        context: context, hub: hub)
        let fragmenter = try #require(hub.requestedFragmenter)
        guard case .parts(let part) = fragmenter.fragmentation else { Issue.record("parts expected"); return }
        #expect(part == .milliseconds(500), "the shortest part any consumer asked for (the websocket sink asked for whole GOPs)")

        let tasks = [Task { try await hls.run() }, Task { try await recorder.run() }, Task { try await websocket.run() },
                     Task { await fragmenter.run(logger: logger) }]
        await hls.touch(player: "test")
        let viewer = websocket.subscribe(viewer: "viewer")
        let collected = Mutex<[FragmentEvent]>([])
        let collecting = Task { for await event in viewer { collected.withLock { $0.append(event) } } }
        defer { collecting.cancel(); viewer.close() }
        #expect(try await eventually { fragmenter.fragments.viewerCount == 3 && hub.tapNames == ["fragmenter"] })
        // One tap on the camera's packets cuts fMP4 for all three; nothing reads them through a queue.
        #expect(hub.statistics.readers.isEmpty)

        hub.begin(streams)
        // The clip twice in a row, so that HLS closes a segment.
        let length = try #require(packets.compactMap { $0.decodeSeconds }.max()) + 0.04
        for pass in 0..<2 {
            for packet in packets { hub.publish(packet.offset(by: packet.timeBase.ticks(seconds: length * Double(pass)))) }
        }
        #expect(try await eventually { (try? await hls.mediaPlaylist(query: "", blockUntil: nil))?.contains("#EXT-X-PART:") == true })
        // HLS lists parts on the camera's thread as they are cut; the viewer's task takes them a little later.
        #expect(try await eventually { collected.withLock { $0.contains { $0.isPayload } } })
        let received = collected.withLock { $0 }
        guard case .initSegment(let initSegment) = received.first else { Issue.record("init segment first"); return }
        #expect(initSegment.streams?.codecs == streams.codecs)
        let fragments = received.compactMap { if case .fragment(let fragment) = $0 { fragment } else { nil } }
        #expect(fragments.first?.isIndependent == true)
        let durations = fragments.map(\.duration)
        #expect(durations.allSatisfy { $0 <= 0.5 + 0.05 }, "\(durations)")
        // HLS serves the very bytes the viewer got: the same parts, cut once.
        let playlist = try await hls.mediaPlaylist(query: "", blockUntil: nil)
        let partURIs = playlist.split(separator: "\n").filter { $0.hasPrefix("#EXT-X-PART:") }.compactMap { $0.split(separator: "\"").dropFirst().first }
        #expect(!partURIs.isEmpty)
        for uri in partURIs {
            let served = try #require(await hls.resource(named: String(uri)))
            // The viewer may not have taken the newest part yet.
            let same = try await eventually {
                collected.withLock { events in events.contains { if case .fragment(let fragment) = $0 { fragment.bytes == served.joinedBytes() } else { false } } }
            }
            #expect(same, "\(uri) is not one of the viewer's fragments")
        }
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.result }
        await storage.close()
    }

    @Test func aRecordingFileStartsAtZeroThoughTheCameraStartedEarlier() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let writer = try FragmentedMP4Writer(streams: streams, fragmentation: .parts(.milliseconds(500)))
        var fragments: [MP4Fragment] = []
        for packet in packets { if let fragment = try writer.append(packet) { fragments.append(fragment) } }
        if let last = try writer.finish() { fragments.append(last) }
        let timescales = FragmentTimeline.timescales(initSegment: writer.initSegment)
        #expect(!timescales.isEmpty && timescales.values.allSatisfy { $0 > 0 })
        // A file that starts at the second keyframe-led fragment.
        let start = try #require(fragments.dropFirst().firstIndex { $0.isIndependent })
        let origin = try #require(FragmentTimeline.decodeTimes(fragment: fragments[start].bytes, timescales: timescales).values.min())
        #expect(origin > 0)
        let pieces = fragments[start...].map { FragmentTimeline.shifted($0.bytes, back: origin, timescales: timescales) }
        // Only the moof is copied: the media stays the fragment's own bytes.
        for piece in pieces { #expect(piece.head.count > 0 && piece.head.count < piece.count / 2) }
        let shifted = pieces.map(\.bytes)
        let firstTimes = FragmentTimeline.decodeTimes(fragment: shifted[0], timescales: timescales)
        #expect(firstTimes.values.min() == 0)
        for (original, moved) in zip(fragments[start...], shifted) {
            let before = FragmentTimeline.decodeTimes(fragment: original.bytes, timescales: timescales)
            let after = FragmentTimeline.decodeTimes(fragment: moved, timescales: timescales)
            for (track, time) in before { #expect(abs((after[track] ?? -1) - max(0, time - origin)) < 0.001) }
            #expect(moved.count == original.bytes.count)
        }
        let path = TestMedia.temporaryPath("rebased.mp4")
        try FileIO.write(writer.initSegment + shifted.flatMap { $0 }, to: path)
        let probe = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", path])
        #expect(probe.status == 0 && probe.error.isEmpty, "\(probe.error)")
        #expect(abs(Double(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99) < 0.05, "start_time \(probe.output)")
        // Bytes that are not boxes are left as they are.
        #expect(FragmentTimeline.shifted([1, 2, 3], back: 5, timescales: timescales).bytes == [1, 2, 3])
        #expect(FragmentTimeline.timescales(initSegment: [0, 0, 0, 1, 0x6D, 0x6F]).isEmpty)
    }
}
