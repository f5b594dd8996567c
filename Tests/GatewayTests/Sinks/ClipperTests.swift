import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import StorageSQLite
import Synchronization
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
        #expect(try await eventually { hub.tapNames.contains("clipper") })
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

    /// The pre-roll is kept on the camera's thread and the clip takes what follows from a
    /// queue: a clip triggered while packets flow has every video frame from its first keyframe
    /// to its end, once (no gap where the trigger was, no frame twice).
    @Test func aClipTriggeredWhilePacketsFlowHasEveryFrameOnce() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let hub = StreamHub(cameraID: "cam")
        let (sink, storage) = try await clipper(hub, events: EventBus(logger: Logger(label: "test")))
        let running = Task { try await sink.run() }
        defer { running.cancel() }
        #expect(try await eventually { hub.tapNames.contains("clipper") })
        hub.begin(streams)
        // Passes one after another with the video's frames evenly spaced across the seams.
        let videoTimes = packets.filter { $0.kind == .video }.compactMap(\.decodeSeconds)
        let length = try #require(videoTimes.max()) - (videoTimes.min() ?? 0) + 0.04
        let done = Mutex(false)
        // About 20 times real time, in batches of 5 packets, until the clips are done: on a
        // thread of its own, as a camera's source publishes (a sleeping task would hold one of
        // the few threads every test's tasks share).
        let publishing = Task {
            try await BlockingThread.run(name: "test-camera", onCancel: { done.withLock { $0 = true } }) {
                for pass in 0..<400 where !done.withLock({ $0 }) {
                    let shifted = packets.map { $0.offset(by: $0.timeBase.ticks(seconds: length * Double(pass))) }
                    for start in stride(from: 0, to: shifted.count, by: 5) {
                        hub.publish(contentsOf: Array(shifted[start..<min(start + 5, shifted.count)]))
                        usleep(2_000)
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        // Two clips, the second while the first is being written (it takes the same queue).
        let first = try await sink.trigger(pre: 1, post: 2, label: nil, actor: "test")
        try await Task.sleep(for: .milliseconds(100))
        let second = try await sink.trigger(pre: 1, post: 2, label: nil, actor: "test")
        #expect(try await eventually {
            let firstStatus = try await storage.video(id: first.id)?.status
            let secondStatus = try await storage.video(id: second.id)?.status
            return firstStatus == .ready && secondStatus == .ready
        })
        done.withLock { $0 = true }
        try await publishing.value
        for record in [first, second] {
            let ready = try #require(try await storage.video(id: record.id))
            let probe = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-select_streams", "v", "-show_entries", "packet=dts_time",
                                                                     "-of", "csv=p=0", ready.path])
            #expect(probe.status == 0 && probe.error.isEmpty, "\(probe.error)")
            let times = probe.output.split(separator: "\n").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            #expect(times.count >= 50, "at least the 2 s post-roll of 25 fps video, got \(times.count) frames")
            let steps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(steps.allSatisfy { abs($0 - 0.04) < 0.005 }, "every frame once: \(steps.filter { abs($0 - 0.04) >= 0.005 })")
        }
        running.cancel()
        _ = await running.result
        await storage.close()
    }
}
