import Hummingbird

/// `GET /api/health`: the gateway and each camera as it is now.
struct HealthRoutes {
    let runtime: GatewayRuntime

    struct Health: ResponseEncodable {
        let status: String
        let version: String
        let ffmpeg: String
        let uptime: Double
        let cameras: [CameraHealth]
    }

    struct CameraHealth: Codable {
        let id: String
        let name: String
        let state: CameraState
        let lastError: String?
        let reconnects: Int
        let codec: String?
        let audioCodec: String?
        let width: Int?
        let height: Int?
        let fps: Double
        let bitrate: Int
        let readers: Int
        let packets: Int
        let droppedPackets: Int
    }

    func register(on router: Router<some RequestContext>) {
        router.get("/api/health") { _, _ in self.health() }
    }

    func health() -> Health {
        let cameras = runtime.cameras.map { camera -> CameraHealth in
            let status = camera.supervisor.currentStatus
            let statistics = camera.hub.statistics
            let streams = camera.hub.currentStreams
            return CameraHealth(
                id: camera.id, name: camera.name, state: status.state, lastError: status.lastError,
                reconnects: status.reconnects, codec: streams?.video?.codecName, audioCodec: streams?.audio?.codecName,
                width: streams?.video?.parameters.width, height: streams?.video?.parameters.height,
                fps: (statistics.fps * 100).rounded() / 100, bitrate: statistics.bitrate, readers: statistics.readers.count,
                packets: statistics.packets, droppedPackets: statistics.readers.reduce(0) { $0 + $1.dropped })
        }
        let allOnline = cameras.allSatisfy { $0.state == .online }
        return Health(status: allOnline ? "ok" : "degraded", version: GatewayRuntime.version, ffmpeg: FFmpeg.versionDescription,
                      uptime: (runtime.uptime * 10).rounded() / 10, cameras: cameras)
    }
}
