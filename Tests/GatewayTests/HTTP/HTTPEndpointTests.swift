import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct HTTPEndpointTests {
    func gateway() async throws -> TestGateway {
        let clip = try await TestMedia.clip()
        return try await TestGateway.start(cameras: """
            [{"id": "front", "name": "Front door", "owner": "olivia", "source": {"type": "file", "path": "\(clip)", "loop": true}}]
            """)
    }

    @Test func healthShowsTheCameraMeasuredFromItsHub() async throws {
        let gateway = try await gateway()
        let hub = try #require(gateway.runtime.cameraManager.pipeline(id: "front")).hub
        try await gateway.run { http in
            // Bitrate and fps are measured over the flow so far: give it 1.5 s (≈ 110 packets).
            #expect(try await eventually { hub.statistics.packets > 110 })
            let reader = hub.subscribe(name: "test-viewer")
            defer { reader.close() }
            let anonymous = try await http.request(.get, "/api/health")
            #expect(anonymous.status == 200)
            #expect(anonymous.headers[.contentType]?.contains("application/json") == true)
            #expect(anonymous.json?["version"] == .string(GatewayRuntime.version))
            #expect(anonymous.json?["cameras"] == nil, "cameras are not shown to anonymous callers")

            let token = try await http.login("olivia")
            let health = try #require(try await http.request(.get, "/api/health", token: token).json)
            #expect(health["status"] == .string("ok"))
            guard case .array(let cameras)? = health["cameras"], let camera = cameras.first else {
                Issue.record("no cameras in \(health)")
                return
            }
            #expect(camera["id"] == .string("front"))
            #expect(camera["state"] == .string("online"))
            #expect(camera["codec"] == .string("h264"))
            #expect(camera["width"] == .int(320) && camera["height"] == .int(240))
            if case .double(let fps)? = camera["fps"] { #expect(fps > 15 && fps < 35) } else { Issue.record("fps missing") }
            if case .int(let bitrate)? = camera["bitrate"] { #expect(bitrate > 10_000) } else { Issue.record("bitrate missing") }
            #expect(camera["readers"] == .int(1))

            let stranger = try await http.login("sam")
            #expect(try await http.request(.get, "/api/health", token: stranger).json?["cameras"] == .array([]))
        }
    }

    @Test func metricsArePrometheusTextForAdmins() async throws {
        let gateway = try await gateway()
        let hub = try #require(gateway.runtime.cameraManager.pipeline(id: "front")).hub
        try await gateway.run { http in
            #expect(try await eventually { hub.statistics.keyframes >= 1 })
            let reader = hub.subscribe(name: "slow-viewer", capacity: 1)
            defer { reader.close() }
            #expect(try await eventually { reader.statistics.dropped > 0 })
            #expect(try await http.request(.get, "/metrics").status == 401)
            #expect(try await http.request(.get, "/metrics", token: try await http.login("olivia")).status == 403)
            let response = try await http.request(.get, "/metrics", token: try await http.login("admin"))
            #expect(response.status == 200)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let lines = response.text.split(separator: "\n")
            func value(_ prefix: String) -> Double? {
                lines.first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last!) }
            }
            #expect(response.text.contains("# TYPE gateway_camera_packets_total counter"))
            #expect((value("gateway_camera_packets_total{camera=\"front\"}") ?? 0) > 0)
            #expect((value("gateway_camera_bytes_total{camera=\"front\"}") ?? 0) > 1000)
            #expect((value("gateway_camera_keyframes_total{camera=\"front\"}") ?? 0) >= 1)
            #expect(value("gateway_camera_state{camera=\"front\",state=\"online\"}") == 1)
            #expect(value("gateway_camera_state{camera=\"front\",state=\"reconnecting\"}") == 0)
            #expect((value("gateway_reader_dropped_packets_total{camera=\"front\",reader=\"slow-viewer\"}") ?? 0) > 0)
            #expect(value("gateway_camera_readers{camera=\"front\"}") == 1)
        }
    }

    @Test func unknownRoutesGetTheJSONErrorShape() async throws {
        try await gateway().run { http in
            let response = try await http.request(.get, "/api/nothing-here")
            #expect(response.status == 404)
            #expect(response.json?["error"]?["status"] == .int(404))
            #expect(response.errorCode == "not_found")
        }
    }
}
