import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite struct HTTPEndpointTests {
    func runtime() throws -> GatewayRuntime {
        let clip = try TestMedia.clip()
        let text = """
        {"server": {"port": 0, "data_dir": "\(TestMedia.directory)/http-data"},
         "users": [{"username": "admin", "role": "admin"}],
         "cameras": [{"id": "front", "name": "Front door", "owner": "admin", "source": {"type": "file", "path": "\(clip)", "loop": true}}]}
        """
        let config = try ConfigLoader(registry: standardRegistry(), environment: [:]).load(text: text).get()
        return try GatewayRuntime(config: config, registry: standardRegistry(), logger: Logger(label: "test"))
    }

    struct Health: Decodable {
        struct Camera: Decodable {
            let id: String, state: String, codec: String?, width: Int?, height: Int?, fps: Double, bitrate: Int, readers: Int
        }
        let status: String, version: String, uptime: Double, cameras: [Camera]
    }

    @Test func healthShowsTheCameraMeasuredFromItsHub() async throws {
        let runtime = try runtime()
        let hub = runtime.cameras[0].hub
        try await runtime.makeApplication().test(.live) { client in
            // Bitrate and fps are measured over the flow so far: give it 1.5 s (≈ 110 packets).
            #expect(try await eventually { hub.statistics.packets > 110 })
            let reader = hub.subscribe(name: "test-viewer")
            defer { reader.close() }
            try await client.execute(uri: "/api/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.contains("application/json") == true)
                let health = try JSONDecoder().decode(Health.self, from: Data(buffer: response.body))
                #expect(health.version == GatewayRuntime.version)
                #expect(health.status == "ok")
                let camera = try #require(health.cameras.first)
                #expect(camera.id == "front")
                #expect(camera.state == "online")
                #expect(camera.codec == "h264")
                #expect(camera.width == 320 && camera.height == 240)
                #expect(camera.fps > 15 && camera.fps < 35)
                #expect(camera.bitrate > 10_000)
                #expect(camera.readers == 1)
            }
        }
    }

    @Test func metricsArePrometheusText() async throws {
        let runtime = try runtime()
        let hub = runtime.cameras[0].hub
        try await runtime.makeApplication().test(.live) { client in
            #expect(try await eventually { hub.statistics.keyframes >= 1 })
            let reader = hub.subscribe(name: "slow-viewer", capacity: 1)
            defer { reader.close() }
            #expect(try await eventually { reader.statistics.dropped > 0 })
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                let lines = text.split(separator: "\n")
                func value(_ prefix: String) -> Double? {
                    lines.first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last!) }
                }
                #expect(text.contains("# TYPE gateway_camera_packets_total counter"))
                #expect((value("gateway_camera_packets_total{camera=\"front\"}") ?? 0) > 0)
                #expect((value("gateway_camera_bytes_total{camera=\"front\"}") ?? 0) > 1000)
                #expect((value("gateway_camera_keyframes_total{camera=\"front\"}") ?? 0) >= 1)
                #expect(value("gateway_camera_state{camera=\"front\",state=\"online\"}") == 1)
                #expect(value("gateway_camera_state{camera=\"front\",state=\"reconnecting\"}") == 0)
                #expect((value("gateway_reader_dropped_packets_total{camera=\"front\",reader=\"slow-viewer\"}") ?? 0) > 0)
                #expect(value("gateway_camera_readers{camera=\"front\"}") == 1)
            }
        }
    }

    @Test func unknownRoutesGetTheJSONErrorShape() async throws {
        try await runtime().makeApplication().test(.live) { client in
            try await client.execute(uri: "/api/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let error = body?["error"] as? [String: Any]
                #expect(error?["status"] as? Int == 404)
                #expect(error?["code"] as? String == "not_found")
            }
        }
    }
}
