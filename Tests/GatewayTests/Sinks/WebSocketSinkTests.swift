import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import Synchronization
import Testing

/// The `websocket` sink: every viewer gets the camera's fMP4 (init segment first, then parts from
/// a keyframe), from the camera's one fragmenter, with the queue and limits its options say.
@Suite struct WebSocketSinkTests {
    func sink(_ options: [(key: String, value: JSONValue)], hub: StreamHub) throws -> WebSocketSink {
        let configuration = try #require(ConfigDecoder.decode(WebSocketSinkConfiguration.self, from: .object(JSONObject(options))).value)
        return try WebSocketSink(configuration: configuration, context: testContext(hub.cameraID), hub: hub)
    }

    @Test func aViewerJoiningMidStreamStartsWithTheInitSegmentAndAKeyframe() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let hub = StreamHub(cameraID: "ws")
        let websocket = try sink([("viewer_queue_fragments", .int(100))], hub: hub)
        let fragmenting = Task { await hub.fragmenter.run(logger: Logger(label: "test")) }
        defer { fragmenting.cancel() }
        #expect(try await eventually { hub.tapNames.contains("fragmenter") })
        hub.begin(streams)
        for packet in packets.prefix(packets.count / 2) { hub.publish(packet) }
        // The viewer comes in the middle of the clip.
        let viewer = websocket.subscribe(viewer: "late")
        defer { viewer.close() }
        let events = Mutex<[FragmentEvent]>([])
        let reading = Task { for await event in viewer { events.withLock { $0.append(event) } } }
        defer { reading.cancel() }
        for packet in packets.suffix(from: packets.count / 2) { hub.publish(packet) }
        // The clip once more, later on the timeline: more GOPs are cut.
        let length = try #require(packets.compactMap { $0.decodeSeconds }.max()) + 0.04
        for packet in packets { hub.publish(packet.offset(by: packet.timeBase.ticks(seconds: length))) }
        #expect(try await eventually { events.withLock { $0.count } >= 3 })
        let received = events.withLock { $0 }
        guard case .initSegment(let initSegment) = received.first else { Issue.record("the init segment comes first"); return }
        #expect(initSegment.codecs == streams.codecs && initSegment.mimeType.hasPrefix("video/mp4"))
        guard case .fragment(let first) = received[1] else { Issue.record("then a fragment"); return }
        #expect(first.isIndependent, "a viewer starts on a keyframe")
    }

    @Test func viewerLimitsComeFromTheOptions() throws {
        let websocket = try sink([("viewer_max_buffer_bytes", .int(65_536)), ("viewer_stall_seconds", .int(3))], hub: StreamHub(cameraID: "limits"))
        #expect(websocket.viewerLimits.maximumBuffered == 65_536)
        #expect(websocket.viewerLimits.stallLimit == .seconds(3))
    }

    @Test func partsAreTwoTenthsOfASecondUnlessAskedOtherwise() throws {
        let hub = StreamHub(cameraID: "parts")
        let defaults = try sink([], hub: hub)
        guard case .parts(let length) = hub.fragmenter.fragmentation else { Issue.record("parts by default"); return }
        #expect(length == .milliseconds(200))
        _ = defaults
        let gops = StreamHub(cameraID: "gops")
        let whole = try sink([("part_duration", .int(0))], hub: gops)
        guard case .perKeyframe = gops.fragmenter.fragmentation else { Issue.record("0: one fragment per GOP"); return }
        _ = whole
        for (value, unusable) in [(JSONValue.double(0.01), true), (.int(11), false), (.int(-1), false)] {
            let problems = ConfigDecoder.decode(WebSocketSinkConfiguration.self, from: .object(JSONObject([("part_duration", value)]))).problems
            #expect(problems.map(\.path) == ["part_duration"] && problems.allSatisfy { $0.isUnusable == unusable }, "\(value): \(problems)")
        }
    }
}
