import Hummingbird
import GatewayCore
import JSON

/// `GET /api/health`: the gateway for anyone; the cameras the caller may see, when authenticated.
struct HealthRoutes {
    let runtime: GatewayRuntime

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/health") { _, context in
            try await health(for: context.optionalPrincipal)
        }
    }

    func health(for principal: Principal?) async throws -> Response {
        var cameras: [JSONValue] = []
        var allOnline = true
        let visible: Set<String>? = principal == nil ? [] : Set(try await runtime.access.visibleCameras(principal!).map(\.0.id))
        for pipeline in runtime.cameraManager.all {
            let status = pipeline.supervisor.currentStatus
            allOnline = allOnline && status.state == .online
            guard visible?.contains(pipeline.id) ?? true else { continue }
            let statistics = pipeline.hub.statistics
            let streams = pipeline.hub.currentStreams
            cameras.append(.object(JSONObject([
                ("id", .string(pipeline.id)), ("name", .string(pipeline.record.name)), ("state", .string(status.state.rawValue)),
                ("last_error", (principal?.isAdmin == true ? status.lastError : status.lastPublicError).map { .string($0) } ?? .null), ("reconnects", .int(status.reconnects)),
                ("codec", streams?.video.map { .string($0.codecName) } ?? .null),
                ("audio_codec", streams?.audio.map { .string($0.codecName) } ?? .null),
                ("width", streams?.video.map { .int($0.parameters.width) } ?? .null),
                ("height", streams?.video.map { .int($0.parameters.height) } ?? .null),
                ("fps", .double((statistics.fps * 100).rounded() / 100)), ("bitrate", .int(statistics.bitrate)),
                ("readers", .int(statistics.readerCount)), ("viewers", .int(pipeline.hub.requestedFragmenter?.fragments.liveViewerCount ?? 0)),
                ("packets", .int(statistics.packets)),
                ("dropped_packets", .int((statistics.readers + statistics.fragmentSinks).reduce(0) { $0 + $1.dropped })),
                ("lag_seconds", .double((statistics.lagSeconds * 1000).rounded() / 1000)),
                ("max_lag_seconds", .double((statistics.maximumLagSeconds * 1000).rounded() / 1000)),
            ])))
        }
        var body = JSONObject([
            ("status", .string(allOnline ? "ok" : "degraded")), ("version", .string(GatewayRuntime.version)),
            ("ffmpeg", .string(FFmpeg.versionDescription)), ("uptime", .double((runtime.uptime * 10).rounded() / 10)),
            ("registration", .bool(runtime.config.auth.allowRegistration)),
        ])
        if principal != nil { body["cameras"] = .array(cameras) }
        return Response.json(.object(body))
    }
}
