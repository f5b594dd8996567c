import Hummingbird
import GatewayCore
import JSON

/// Clip triggers: `POST /api/cameras/{id}/clips` and seed 004's `POST /api/store` (its camera,
/// or the first clipper camera the caller may operate). Operators and up; 202 with the clip,
/// which becomes ready when its post-roll has arrived.
struct ClipRoutes {
    let clips: ClipControl

    struct ClipInput: Decodable {
        let preSeconds: Double?
        let postSeconds: Double?
        let label: String?
        enum CodingKeys: String, CodingKey { case preSeconds = "pre_seconds", postSeconds = "post_seconds", label }
    }

    struct StoreInput: Decodable {
        let cameraId: String?
        let label: String?
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/api/cameras/:id/clips") { request, context in
            let principal = try context.principal()
            let input = try await Self.optionalBody(ClipInput.self, request) ?? ClipInput(preSeconds: nil, postSeconds: nil, label: nil)
            let clip = try await clips.trigger(principal, cameraID: try context.parameters.require("id"),
                                               pre: input.preSeconds, post: input.postSeconds, label: input.label)
            return Response.json(.object(JSONObject([("clip", Views.video(clip))])), status: .accepted)
        }
        router.post("/api/store") { request, context in
            let principal = try context.principal()
            let input = try await Self.optionalBody(StoreInput.self, request)
            let cameraID = try await clips.cameraForStore(principal, requested: input?.cameraId)
            let clip = try await clips.trigger(principal, cameraID: cameraID, pre: nil, post: nil, label: input?.label)
            return Response.json(.object(JSONObject([("success", .bool(true)), ("clip", Views.video(clip))])), status: .accepted)
        }
    }

    /// A JSON body when there is one (seed 004 posts `/api/store` without a body).
    static func optionalBody<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T? {
        let buffer = try await request.body.collect(upTo: RequestBody.maximumBytes)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try RequestBody.decode(type, from: try JSONParser.parse(Array(buffer.readableBytesView)))
        } catch let error as JSONParser.SyntaxError {
            throw GatewayError(.malformedJSON, "malformed JSON at \(error)")
        }
    }
}
