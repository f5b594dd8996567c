import EventsMQTT
import EventsPostgres
import Foundation
import GatewayCore
import JSON
import Logging

/// `gateway-bench events BACKEND URL COUNT`: COUNT events emitted as fast as one thread can into
/// an event bus with one remote backend (`mqtt` or `postgres`) and its spool; prints the cost of
/// an emit on the emitting thread, the time until the backend took them all, and the process's
/// CPU per event. `events-payload` prints one event's JSON for the baselines.
enum EventsLoad {
    static func event(_ index: Int) -> GatewayEvent {
        GatewayEvent(name: "viewer.left", actor: "user\(index % 50)", camera: "camera\(index % 20)", details: JSONObject([
            ("via", .string("websocket")), ("duration_seconds", .double(Double(index % 600) + 0.25)), ("bytes", .int(index * 1000)),
        ]))
    }

    static func measure(backend type: String, url: String, count: Int) async throws -> [(String, String)] {
        let logger = Logger(label: "bench")
        let bus = EventBus(logger: logger)
        let directory = NSTemporaryDirectory() + "events-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let context = PluginContext(id: "events", logger: logger, dataDirectory: directory, events: bus)
        let options: [(String, JSONValue)] = type == "mqtt"
            ? [("url", .string(url)), ("topic_prefix", .string("bench"))]
            : [("url", .string(url)), ("table", .string("bench_events"))]
        let remote: any RemoteEventBackend
        switch type {
        case "mqtt":
            let decoded = ConfigDecoder.decode(MQTTEventBackend.Configuration.self, from: .object(JSONObject(options)))
            remote = try MQTTEventBackend(configuration: decoded.value!, context: context)
        default:
            let decoded = ConfigDecoder.decode(PostgresEventBackend.Configuration.self, from: .object(JSONObject(options)))
            remote = try PostgresEventBackend(configuration: decoded.value!, context: context)
        }
        let spool = try EventSpool(directory: directory + "/spool", backend: type, maxEvents: count * 2, maxBytes: 1 << 40)
        bus.attach(remote, name: type, spool: spool)
        let running = Task { try await bus.run() }
        // Connected (or the table made): one event goes through first.
        bus.emit(event(-1))
        while spool.count > 0 { try await Task.sleep(for: .milliseconds(10)) }

        let cpuStart = GatewayBench.cpuSeconds()
        let start = ContinuousClock.now
        for index in 0..<count { bus.emit(event(index)) }
        let emitted = ContinuousClock.now - start
        while spool.count > 0 { try await Task.sleep(for: .milliseconds(2)) }
        let delivered = ContinuousClock.now - start
        let cpu = GatewayBench.cpuSeconds() - cpuStart
        running.cancel()
        _ = try? await running.value
        return [
            ("events_\(type)_emit_ns", GatewayBench.format(emitted.seconds / Double(count) * 1e9)),
            ("events_\(type)_seconds", GatewayBench.format(delivered.seconds)),
            ("events_\(type)_per_second", GatewayBench.format(Double(count) / delivered.seconds)),
            ("events_\(type)_cpu_us_per_event", GatewayBench.format(cpu / Double(count) * 1e6)),
        ]
    }
}
