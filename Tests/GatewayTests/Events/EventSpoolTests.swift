import Foundation
import GatewayCore
import JSON
import Logging
import Prometheus
import Synchronization
import Testing

@Suite struct EventSpoolTests {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "spool-\(UUID().uuidString)"
        try FileIO.makeDirectory(path)
        return path
    }

    func events(_ count: Int, from first: Int = 0) -> [GatewayEvent] {
        (first..<(first + count)).map { GatewayEvent(name: "test.e\($0)", actor: "u", camera: "c", details: JSONObject([("n", .int($0))])) }
    }

    @Test func batchesComeInOrderAndLeaveOnlyWhenAcknowledged() async throws {
        let spool = try EventSpool(directory: try directory(), backend: "t", maxEvents: 100, maxBytes: 1 << 20)
        for event in events(5) { spool.append(event) }
        let first = await spool.next(limit: 3)
        #expect(first.map(\.event.name) == ["test.e0", "test.e1", "test.e2"])
        // Not acknowledged: the same batch again (a failed delivery is retried).
        #expect(await spool.next(limit: 3).map(\.sequence) == first.map(\.sequence))
        spool.acknowledge(through: first[2].sequence)
        #expect(await spool.next(limit: 10).map(\.event.name) == ["test.e3", "test.e4"])
    }

    @Test func whatWasNotDeliveredSurvivesARestartWithItsIdsAndOrder() async throws {
        let path = try directory()
        let sent = events(6)
        do {
            let spool = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
            for event in sent { spool.append(event) }
            spool.acknowledge(through: await spool.next(limit: 2)[1].sequence)
            await spool.close()
        }
        let reopened = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
        let left = await reopened.next(limit: 100)
        #expect(left.map(\.event) == Array(sent[2...]))
        // New events follow the old ones, and a second restart still has all of them.
        reopened.append(GatewayEvent(name: "test.after"))
        await reopened.close()
        let again = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
        #expect(await again.next(limit: 100).map(\.event.name) == sent[2...].map(\.name) + ["test.after"])
    }

    @Test func beyondTheBoundTheOldestAreDroppedAndCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        let path = try directory()
        let spool = try EventSpool(directory: path, backend: "mqtt", maxEvents: 3, maxBytes: 1 << 20, metrics: PrometheusMetricsFactory(registry: registry))
        for event in events(10) { spool.append(event) }
        #expect(await spool.next(limit: 100).map(\.event.name) == ["test.e7", "test.e8", "test.e9"])
        #expect(registry.emitToString().contains(#"gateway_events_dropped_total{backend="mqtt"} 7"#))
        #expect(registry.emitToString().contains(#"gateway_events_spooled{backend="mqtt"} 3"#))
        await spool.close()
        // By bytes too: each line is well over 100 bytes, so 1 000 bytes keep fewer than ten.
        let bytes = try EventSpool(directory: try directory(), backend: "b", maxEvents: 1000, maxBytes: 1000)
        for event in events(20) { bytes.append(event) }
        let kept = await bytes.next(limit: 100)
        #expect(kept.count < 10 && kept.count > 0)
        #expect(kept.last?.event.name == "test.e19")
        // The bound holds across a restart.
        #expect(await (try EventSpool(directory: path, backend: "mqtt", maxEvents: 3, maxBytes: 1 << 20)).next(limit: 100).count == 3)
    }

    @Test func aLineCutShortByACrashIsSkippedAndTheRestReadsBack() async throws {
        let path = try directory()
        do {
            let spool = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
            for event in events(3) { spool.append(event) }
            await spool.close()
        }
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: path).first { $0.hasSuffix(".jsonl") })
        try FileIO.append(Array("4\t1764550000.5\t{\"v\":1,\"id\":\"x\",\"ev".utf8), to: path + "/" + segment)
        let reopened = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
        #expect(await reopened.next(limit: 100).map(\.event.name) == ["test.e0", "test.e1", "test.e2"])
        reopened.append(GatewayEvent(name: "test.new"))
        await reopened.close()
        let again = try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)
        #expect(await again.next(limit: 100).map(\.event.name) == ["test.e0", "test.e1", "test.e2", "test.new"])
    }

    @Test func deliveredSegmentsAreRemovedFromDisk() async throws {
        let path = try directory()
        let spool = try EventSpool(directory: path, backend: "t", maxEvents: 10_000, maxBytes: 1 << 30, segmentBytes: 2000)
        for batch in 0..<20 {
            for event in events(10, from: batch * 10) { spool.append(event) }
            await spool.close()  // one write per batch: many small segments
        }
        func segments() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".jsonl") }.count }
        let before = try segments()
        #expect(before > 3)
        let all = await spool.next(limit: 10_000)
        #expect(all.count == 200)
        spool.acknowledge(through: all[150].sequence)
        await spool.close()
        let remaining = try segments()
        #expect(remaining >= 1 && remaining < before)
        spool.acknowledge(through: all[199].sequence)
        await spool.close()
        #expect(try segments() == 0)
        #expect(await (try EventSpool(directory: path, backend: "t", maxEvents: 100, maxBytes: 1 << 20)).count == 0)
    }

    /// A remote backend that refuses the first `failures` deliveries.
    final class FlakyRemote: RemoteEventBackend, @unchecked Sendable {
        let received = Mutex<[String]>([])
        let failures: Mutex<Int>
        init(failures: Int) { self.failures = Mutex(failures) }
        var batchLimit: Int { 4 }
        var batchLinger: Duration { .zero }
        func deliver(_ events: [GatewayEvent]) async throws {
            let fail = failures.withLock { count in
                defer { count -= 1 }
                return count > 0
            }
            if fail { throw CancellationError() }
            received.withLock { $0 += events.map(\.name) }
        }
        func run() async throws {}
    }

    @Test func theBusRetriesARemoteBackendUntilItTakesEveryEventInOrder() async throws {
        let bus = EventBus(logger: Logger(label: "test"), retry: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
        let remote = FlakyRemote(failures: 3)
        let spool = try EventSpool(directory: try directory(), backend: "flaky", maxEvents: 100, maxBytes: 1 << 20)
        bus.attach(remote, name: "flaky", spool: spool)
        let running = Task { try await bus.run() }
        defer { running.cancel() }
        let sent = events(10)
        for event in sent { bus.emit(event) }
        #expect(try await eventually { remote.received.withLock { $0 } == sent.map(\.name) })
        #expect(spool.count == 0)
    }

    @Test func theEventJSONCarriesAVersionAndAUniqueID() throws {
        let one = GatewayEvent(name: "user.login"), two = GatewayEvent(name: "user.login")
        #expect(one.id != two.id)
        #expect(one.id.count == 36 && one.id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        // Version 4, RFC 4122 variant, lowercase hex.
        let characters = Array(one.id)
        #expect(characters[14] == "4" && "89ab".contains(characters[19]), "\(one.id)")
        #expect(one.id.allSatisfy { "0123456789abcdef-".contains($0) })
        #expect(Set((0..<1000).map { _ in GatewayEvent.newID() }).count == 1000)
        #expect(one.json["v"] == .int(1) && one.json["id"] == .string(one.id))
        #expect(one.category == "user" && one.action == "login")
        #expect(GatewayEvent(name: "camera.state_changed").action == "state_changed")
    }
}
