import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import SourcesFile
import Testing

func testContext(_ id: String) -> PluginContext {
    let logger = Logger(label: "test")
    return PluginContext(id: id, logger: logger, dataDirectory: TestMedia.directory, events: EventBus(logger: logger))
}

@Suite struct FileSourceTests {
    @Test func playsAtTheFilesOwnPace() async throws {
        let source = try FileSource(configuration: .init(path: try await TestMedia.clip()), context: testContext("paced"))
        let output = RecordingOutput()
        try await source.run(output: output)
        let packets = output.packets
        #expect(output.sessions.count == 1)
        #expect(packets.count > 140)
        let video = packets.filter { $0.packet.kind == .video }
        let wallSpan = video.last!.arrival - video.first!.arrival
        let mediaSpan = video.last!.packet.decodeSeconds! - video.first!.packet.decodeSeconds!
        // Released at the pace of the timestamps: neither a burst nor a crawl.
        #expect(wallSpan > mediaSpan - 0.05 && wallSpan < mediaSpan + 0.5, "wall \(wallSpan) s for \(mediaSpan) s of media")
        for packet in video {
            let due = packet.packet.decodeSeconds! - video.first!.packet.decodeSeconds!
            #expect(packet.arrival - video.first!.arrival >= due - 0.02)
        }
    }

    @Test func loopingContinuesTimestampsAcrossTheRestart() async throws {
        let clip = try await TestMedia.shortVideo()
        let source = try FileSource(configuration: .init(path: clip, loop: true, pacing: .none), context: testContext("loop"))
        let output = RecordingOutput()
        let task = Task { try await source.run(output: output) }
        #expect(try await eventually { output.packets.count >= 80 })
        task.cancel()
        _ = await task.result
        let video = output.packets.map(\.packet).filter { $0.kind == .video }
        let frame = video[1].dts! - video[0].dts!
        #expect(frame > 0)
        for (previous, next) in zip(video, video.dropFirst()) {
            #expect(next.dts! - previous.dts! == frame, "dts \(previous.dts!) then \(next.dts!)")
        }
        #expect(output.sessions.count == 1)
    }

    @Test func cancellationStopsAPacedPlaybackPromptly() async throws {
        let source = try FileSource(configuration: .init(path: try await TestMedia.clip(), loop: true), context: testContext("stop"))
        let output = RecordingOutput()
        let task = Task { try await source.run(output: output) }
        try await Task.sleep(for: .milliseconds(300))
        let cancelled = ContinuousClock.now
        task.cancel()
        _ = await task.result
        // A looping source runs forever: the bound only tells a prompt stop from none.
        #expect(ContinuousClock.now - cancelled < .seconds(10))
    }
}
