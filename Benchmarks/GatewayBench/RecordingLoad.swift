import Foundation
import GatewayCore
import Logging
import Sinks
import SourcesFile
import StorageSQLite
import JSON

/// One camera played in real time into a hub with a clipper and a recorder: the process CPU
/// over the run and the clipper's memory against pre_seconds × the camera's bitrate.
enum RecordingLoad {
    static func measure(file: String, seconds: Int, preSeconds: Int) async throws -> (cpu: Double, buffered: Int, bitrate: Int) {
        let logger = Logger(label: "bench")
        let directory = NSTemporaryDirectory() + "gateway-bench-\(getpid())"
        try FileIO.makeDirectory(directory)
        let storage = try SQLiteStorage(configuration: .init(path: directory + "/bench.sqlite"),
                                        context: PluginContext(id: "storage", logger: logger, dataDirectory: directory, events: EventBus(logger: logger)))
        try await storage.migrate()
        let context = PluginContext(id: "bench", logger: logger, dataDirectory: directory, events: EventBus(logger: logger), storage: storage)
        let hub = StreamHub(cameraID: "bench")
        guard let clipperConfiguration = ConfigDecoder.decode(ClipperSinkConfiguration.self, from: .object(JSONObject([
            ("pre_seconds", .int(preSeconds)), ("post_seconds", .int(30)),
        ]))).value, let recorderConfiguration = ConfigDecoder.decode(RecorderSinkConfiguration.self, from: .object(JSONObject([
            ("segment_duration", .int(600)), ("part_duration", .int(1)),
        ]))).value else { return (0, 0, 0) }
        let clipper = try ClipperSink(configuration: clipperConfiguration, context: context, hub: hub)
        let recorder = try RecorderSink(configuration: recorderConfiguration, context: context, hub: hub)
        let source = try FileSource(configuration: .init(path: file, loop: true), context: context)
        let start = GatewayBench.cpuSeconds()
        var buffered = 0
        var bitrate = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await clipper.run() }
            group.addTask { try await recorder.run() }
            group.addTask { await hub.fragmenter.run(logger: logger) }
            // The clipper and the fragmenter are taps on the hub (they run on the camera's thread); the
            // recorder reads the fragmenter's parts.
            while !["clipper", "fragmenter"].allSatisfy(hub.tapNames.contains) || hub.fragmenter.fragments.viewerCount < 1 { try await Task.sleep(for: .milliseconds(5)) }
            group.addTask { try? await source.run(output: hub) }
            try await Task.sleep(for: .seconds(seconds))
            buffered = await clipper.bufferedBytes
            bitrate = hub.statistics.bitrate
            group.cancelAll()
        }
        let cpu = GatewayBench.cpuSeconds() - start
        await storage.close()
        try? FileManager.default.removeItem(atPath: directory)
        return (cpu, buffered, bitrate)
    }
}
