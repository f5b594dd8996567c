import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
@testable import Sinks
import StorageSQLite
import Testing

@Suite struct RecorderTests {
    /// A recorder of camera `id` (segments of 600 s) on SQLite storage, and its hub.
    private func recorder(_ id: String, partDuration: Double, takeInterval: Duration = .seconds(1)) async throws -> (RecorderSink, StreamHub, SQLiteStorage, Logger) {
        let storage = try await sqliteStorage()
        let logger = Logger(label: "test")
        let context = PluginContext(id: id, logger: logger, dataDirectory: TestMedia.temporaryPath(id),
                                    events: EventBus(logger: logger), storage: storage)
        let configuration = try #require(ConfigDecoder.decode(RecorderSinkConfiguration.self, from: .object(JSONObject([
            ("segment_duration", .int(600)), ("part_duration", .double(partDuration)),
        ]))).value)
        let hub = StreamHub(cameraID: id)
        return (try RecorderSink(configuration: configuration, context: context, hub: hub, takeInterval: takeInterval), hub, storage, logger)
    }

    @Test func aSourceReconnectStartsANewSegmentAndBothPlay() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let (recorder, hub, storage, logger) = try await recorder("rec", partDuration: 0.5)
        let running = Task { try await recorder.run() }
        let fragmenting = Task { await hub.fragmenter.run(logger: logger) }
        defer { fragmenting.cancel() }
        #expect(try await eventually { hub.fragmenter.fragments.viewerCount == 1 && hub.tapNames.contains("fragmenter") })
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

    /// The recorder takes its parts once a second; turning recording off still writes every
    /// part its reader holds, then the part in progress. Here it takes them once a minute, so
    /// the parts after the first are surely still held however slowly a busy run goes (with one
    /// second, CI once took longer than that between publishing and looking).
    @Test func turningRecordingOffKeepsThePartsNotTakenYet() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let (recorder, hub, storage, logger) = try await recorder("rec-off", partDuration: 0.2, takeInterval: .seconds(60))
        let running = Task { try await recorder.run() }
        defer { running.cancel() }
        let fragmenting = Task { await hub.fragmenter.run(logger: logger) }
        defer { fragmenting.cancel() }
        #expect(try await eventually { hub.fragmenter.fragments.viewerCount == 1 && hub.tapNames.contains("fragmenter") })
        hub.begin(streams)
        let half = packets.count / 2
        for packet in packets[..<half] { hub.publish(packet) }
        // The segment opens with the first parts; the later ones wait in the recorder's reader.
        #expect(try await eventually { try await storage.videos(VideoQuery(kind: .recording)).videos.contains { $0.status == .recording } })
        for packet in packets[half...] { hub.publish(packet) }
        #expect(try await eventually { (hub.fragmenter.fragments.sinkStatistics.first?.queued ?? 0) > 0 })
        #expect(await recorder.setRecording(false, actor: nil) == false)
        let segments = try await storage.videos(VideoQuery(kind: .recording)).videos
        #expect(segments.count == 1 && segments.allSatisfy { $0.status == .ready })
        let segment = try #require(segments.first)
        let probe = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                                 "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", segment.path])
        #expect(probe.status == 0 && probe.error.isEmpty, "\(probe.error)")
        #expect(Int(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)) == 50)
        await storage.close()
    }
}
