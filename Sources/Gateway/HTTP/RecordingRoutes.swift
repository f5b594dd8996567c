import Hummingbird
import GatewayCore
import JSON

/// `POST /api/cameras/{id}/recording` {enabled} and seed 001's `POST /recordStream` {cameraId} (a toggle).
struct RecordingRoutes {
    let recording: RecordingControl

    struct Switch: Decodable { let enabled: Bool }
    struct CameraReference: Decodable { let cameraId: String }

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/api/cameras/:id/recording") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(Switch.self, from: request)
            let on = try await recording.set(principal, cameraID: try context.parameters.require("id"), enabled: body.enabled)
            return Response.json(.object(JSONObject([("recording", .bool(on))])))
        }
        router.post("/recordStream") { request, context in
            let principal = try context.principal()
            let body = try await RequestBody.decode(CameraReference.self, from: request)
            let on = try await recording.set(principal, cameraID: body.cameraId, enabled: nil)
            return Response.json(.object(JSONObject([("success", .bool(true)), ("recording", .bool(on))])))
        }
    }
}
