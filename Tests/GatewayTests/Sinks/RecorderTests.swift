import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import StorageSQLite
import Testing

@Suite struct RecorderTests {
    @Test func aSourceReconnectStartsANewSegmentAndBothPlay() async throws {
        let (streams, packets) = try readAllPackets(try TestMedia.clip())
        let storage = try await sqliteStorage()
        let logger = Logger(label: "test")
        let context = PluginContext(id: "rec", logger: logger, dataDirectory: TestMedia.temporaryPath("recorder"),
                                    events: EventBus(logger: logger), storage: storage)
        let configuration = try #require(ConfigDecoder.decode(RecorderSinkConfiguration.self, from: .object(JSONObject([
            ("segment_duration", .int(600)), ("part_duration", .double(0.5)),
        ]))).value)
        let hub = StreamHub(cameraID: "rec")
        let recorder = try RecorderSink(configuration: configuration, context: context, hub: hub)
        let running = Task { try await recorder.run() }
        let fragmenting = Task { await hub.fragmenter.run(logger: logger) }
        defer { fragmenting.cancel() }
        #expect(try await eventually { hub.fragmenter.fragments.viewerCount == 1 && hub.statistics.readers.contains { $0.name == "fragmenter" } })
        for _ in 0..<2 {
            hub.begin(streams)  // the second one is the camera coming back
            for packet in packets { hub.publish(packet) }
        }
        #expect(try await eventually { try await storage.videos(VideoQuery(kind: .recording)).videos.contains { $0.status == .ready } })
        // The second segment is indexed before the recorder stops (on a loaded machine that takes a moment).
        #expect(try await eventually { try await storage.videos(VideoQuery(kind: .recording)).total == 2 })
        running.cancel()
        _ = await running.result
        let segments = try await storage.videos(VideoQuery(kind: .recording)).videos
        #expect(segments.count == 2)
        #expect(segments.allSatisfy { $0.status == .ready })
        #expect(segments.contains { $0.details["closed_because"] == .string("source restarted") })
        for segment in segments {
            let probe = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", segment.path])
            #expect(probe.status == 0 && probe.error.isEmpty, "\(probe.error)")
            #expect(Int(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)) == 50)
        }
        await storage.close()
    }
}
