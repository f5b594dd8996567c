import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Prometheus
import Synchronization
import Testing

@Suite struct EventTests {
    @Test func userActionsAndCameraChangesAreJSONLinesWithActorAndCamera() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            _ = try await http.request(.post, "/api/auth/register", json: #"{"username": "newbie", "password": "long enough"}"#)
            _ = try await http.request(.post, "/api/auth/login", json: #"{"username": "olivia", "password": "wrong password"}"#)
            let owner = try await http.login("olivia")
            _ = try await http.request(.post, "/api/cameras", token: owner, json: #"{"id": "ev", "name": "Ev", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/x"}}"#)
            _ = try await http.request(.patch, "/api/cameras/ev", token: owner, json: #"{"name": "Ev 2"}"#)
            _ = try await http.request(.post, "/api/cameras/ev/shares", token: owner, json: #"{"username": "victor"}"#)
            _ = try await http.request(.delete, "/api/cameras/ev/shares/victor", token: owner)
            _ = try await http.request(.delete, "/api/cameras/ev", token: owner)
        }
        let lines = String(decoding: try FileIO.read(gateway.dataDirectory + "/events.jsonl"), as: UTF8.self).split(separator: "\n")
        let events = try lines.map { try JSONParser.parse(String($0)) }
        func find(_ name: String) -> JSONValue? { events.first { $0["event"] == .string(name) } }
        #expect(find("user.registered")?["actor"] == .string("newbie"))
        #expect(find("user.login_failed")?["actor"] == .string("olivia"))
        #expect(find("user.login")?["details"]?["address"] != nil)
        for name in ["camera.created", "camera.updated", "camera.shared", "camera.unshared", "camera.deleted"] {
            let event = find(name)
            #expect(event?["actor"] == .string("olivia"), "\(name)")
            #expect(event?["camera"] == .string("ev"), "\(name)")
        }
        #expect(find("camera.shared")?["details"]?["username"] == .string("victor"))
        // The unreachable camera retried (with the reason), then stopped when it was deleted.
        let states = events.filter { $0["event"] == .string("camera.state_changed") && $0["camera"] == .string("ev") }
        #expect(states.last?["details"]?["to"] == .string("offline"))
        #expect(states.allSatisfy { if case .string(let reason)? = $0["details"]?["reason"] { !reason.isEmpty } else { false } })
        for event in events {
            guard case .string(let time)? = event["time"] else { Issue.record("no time in \(event)"); continue }
            #expect(time.hasSuffix("Z") && time.count == 24)
        }
    }

    /// A backend that holds every event until released.
    final class StuckBackend: EventBackend, @unchecked Sendable {
        let received = Mutex<[String]>([])
        func publish(_ event: GatewayEvent) async throws {
            received.withLock { $0.append(event.name) }
            try await Task.sleep(for: .seconds(3600))
        }
    }

    final class RecordingBackend: EventBackend, @unchecked Sendable {
        let received = Mutex<[String]>([])
        func publish(_ event: GatewayEvent) async throws { received.withLock { $0.append(event.name) } }
    }

    @Test func aStuckBackendNeitherBlocksEmittersNorOtherBackendsAndDropsAreCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        let bus = EventBus(logger: Logger(label: "test"), capacity: 3, metrics: PrometheusMetricsFactory(registry: registry))
        let stuck = StuckBackend()
        let healthy = RecordingBackend()
        bus.attach(stuck, name: "stuck")
        bus.attach(healthy, name: "healthy")
        let running = Task { try await bus.run() }
        defer { running.cancel() }
        bus.emit(GatewayEvent(name: "e0"))
        #expect(try await eventually { stuck.received.withLock { $0 } == ["e0"] })
        for index in 1...10 {
            let started = ContinuousClock.now
            bus.emit(GatewayEvent(name: "e\(index)"))
            // The stuck backend never returns: any bound well under forever tells waiting from not.
            #expect(ContinuousClock.now - started < .seconds(5), "emitting never waits for a backend")
            // The healthy backend keeps up, whatever the stuck one does.
            #expect(try await eventually { healthy.received.withLock { $0.count } == index + 1 })
        }
        let text = registry.emitToString()
        // e0 is being published; of e1…e10 the newest three wait; seven were dropped.
        #expect(text.contains(#"gateway_events_dropped_total{backend="stuck"} 7"#), "\(text)")
        #expect(text.contains(#"gateway_events_dropped_total{backend="healthy"} 0"#))
    }
}
