import Hummingbird
import GatewayCore
import JSON

/// `POST /api/cameras/{id}/stream/start|stop` and seed 001's `POST /startStream`, `/stopStream`.
struct StreamRoutes {
    let streams: StreamControl

    struct CameraReference: Decodable { let cameraId: String }

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/api/cameras/:id/stream/start") { _, context in
            let url = try await streams.start(try context.principal(), cameraID: try context.parameters.require("id"))
            return Response.json(.object(JSONObject([("streamUrl", .string(url))])))
        }
        router.post("/api/cameras/:id/stream/token") { _, context in
            let cameraID = try context.parameters.require("id")
            let token = try await streams.urlToken(try context.principal(), cameraID: cameraID)
            return Response.json(.object(JSONObject([
                ("token", .string(token)), ("expires_in", .int(streams.tokens.idleSeconds)),
                ("websocket_url", .string("/ws/cameras/\(cameraID)?token=\(token)")),
                ("mjpeg_url", .string("/api/cameras/\(cameraID)/mjpeg?token=\(token)")),
            ])))
        }
        router.post("/api/cameras/:id/stream/stop") { _, context in
            try await streams.stop(try context.principal(), cameraID: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.post("/startStream") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            let url = try await streams.start(principal, cameraID: body.cameraId)
            return Response.json(.object(JSONObject([("success", .bool(true)), ("streamUrl", .string(url))])))
        }
        router.post("/stopStream") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            try await streams.stop(principal, cameraID: body.cameraId)
            return Response.json(.object(JSONObject([("success", .bool(true))])))
        }
    }
}
