import Hummingbird
import GatewayCore
import JSON

/// `POST /api/cameras/{id}/stream/start|stop` and seed 001's `POST /startStream`, `/stopStream`.
struct StreamRoutes {
    let streams: StreamControl

    struct CameraReference: Decodable { let cameraId: String }

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/api/cameras/:id/stream/start") { _, context in
            let started = try await streams.start(try context.principal(), cameraID: try context.parameters.require("id"))
            return Response.json(.object(JSONObject([("streamUrl", .string(MediaURL.of(started)))])))
        }
        router.post("/api/cameras/:id/stream/token") { _, context in
            let cameraID = try context.parameters.require("id")
            let token = try await streams.urlToken(try context.principal(), cameraID: cameraID)
            return Response.json(.object(JSONObject([
                ("token", .string(token)), ("expires_in", .int(streams.tokens.idleSeconds)),
                ("websocket_url", .string(MediaURL.websocket(cameraID, token: token))),
                ("mjpeg_url", .string(MediaURL.mjpeg(cameraID, token: token))),
            ])))
        }
        router.post("/api/cameras/:id/stream/stop") { _, context in
            try await streams.stop(try context.principal(), cameraID: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.post("/startStream") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            let started = try await streams.start(principal, cameraID: body.cameraId)
            return Response.json(.object(JSONObject([("success", .bool(true)), ("streamUrl", .string(MediaURL.of(started)))])))
        }
        router.post("/stopStream") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            try await streams.stop(principal, cameraID: body.cameraId)
            return Response.json(.object(JSONObject([("success", .bool(true))])))
        }
    }
}

/// The paths of a camera's media, with the stream token a player presents in `?token=`: the one
/// place outside the route table that knows them.
enum MediaURL {
    static func of(_ stream: StartedStream) -> String {
        switch stream.delivery {
        case .hls: hls(stream.cameraID, token: stream.token)
        case .websocket: websocket(stream.cameraID, token: stream.token)
        }
    }

    static func hls(_ cameraID: String, token: String) -> String { "/hls/\(cameraID)/index.m3u8?token=\(token)" }
    static func websocket(_ cameraID: String, token: String) -> String { "/ws/cameras/\(cameraID)?token=\(token)" }
    static func mjpeg(_ cameraID: String, token: String) -> String { "/api/cameras/\(cameraID)/mjpeg?token=\(token)" }
}
