import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import StorageSQLite
import Testing

@Suite struct ClipperTests {
    func clipper(_ hub: StreamHub, events: EventBus) async throws -> (ClipperSink, SQLiteStorage) {
        let storage = try await sqliteStorage()
        let logger = Logger(label: "test")
        let directory = TestMedia.temporaryPath("clipper")
        let context = PluginContext(id: "cam", logger: logger, dataDirectory: directory, events: events, storage: storage)
        let configuration = try #require(ConfigDecoder.decode(ClipperSinkConfiguration.self, from: .object(JSONObject([
            ("pre_seconds", .int(1)), ("post_seconds", .int(5)),
        ]))).value)
        return (try ClipperSink(configuration: configuration, context: context, hub: hub), storage)
    }

    /// A clipper on a hub that has had the test clip once; cancel the task when done.
    func runningClipper() async throws -> (StreamHub, StreamSet, EventBus, ClipperSink, SQLiteStorage, Task<Void, any Error>) {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let hub = StreamHub(cameraID: "cam")
        let events = EventBus(logger: Logger(label: "test"))
        let (sink, storage) = try await clipper(hub, events: events)
        let running = Task { try await sink.run() }
        #expect(try await eventually { hub.statistics.readers.contains { $0.name == "clipper" } })
        hub.begin(streams)
        for packet in packets { hub.publish(packet) }
        return (hub, streams, events, sink, storage, running)
    }

    @Test func aSourceRestartEndsTheClipEarlyButPlayable() async throws {
        let (hub, streams, _, sink, storage, running) = try await runningClipper()
        defer { running.cancel() }
        #expect(try await eventually { (try? await sink.trigger(pre: nil, post: nil, label: "x", actor: "test")) != nil })
        let pending = try await storage.videos(VideoQuery(kind: .clip)).videos
        let clip = try #require(pending.first)
        hub.begin(streams)  // the camera reconnects mid-clip
        #expect(try await eventually { try await storage.video(id: clip.id)?.status == .ready })
        let ready = try #require(try await storage.video(id: clip.id))
        #expect(ready.details["note"] == .string("ended early by a source restart"))
        let probe = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", ready.path])
        #expect(probe.status == 0 && probe.error.isEmpty)
        #expect((Double(probe.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0.5)
        running.cancel()
        _ = await running.result  // the clipper finishes its work before storage closes
        await storage.close()
    }

    @Test func aClipTriggerEventOnTheBusCutsAClip() async throws {
        let (_, _, events, _, storage, running) = try await runningClipper()
        defer { running.cancel() }
        try await Task.sleep(for: .milliseconds(200))
        events.emit(GatewayEvent(name: "clip.trigger", actor: "mqtt", camera: "cam", details: JSONObject([("post_seconds", .int(0)), ("label", .string("motion"))])))
        events.emit(GatewayEvent(name: "clip.trigger", camera: "other-camera"))
        #expect(try await eventually { try await storage.videos(VideoQuery(kind: .clip)).total == 1 })
        let clip = try #require(try await storage.videos(VideoQuery(kind: .clip)).videos.first)
        #expect(clip.label == "motion" && clip.createdBy == "mqtt")
        running.cancel()
        _ = await running.result  // the clipper finishes its work before storage closes
        await storage.close()
    }
}
