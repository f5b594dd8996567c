import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import GatewayCore
import JSON
import SocketIO

/// `GET /ws/cameras/{id}` (WebSocket): for MSE players that do not speak Socket.IO. The token
/// comes in the `Authorization` header, or a camera stream token (never an account token) in
/// `?token=`. Frames: a text frame
/// `{"type": "init", "codecs", "mimeType"}`, then the init segment and each fragment as binary.
/// With `?timing=1`, each fragment is preceded by a text frame
/// `{"type": "fragment", "sequence", "keyframe", "startTime", "duration", "receivedAt", "publishedAt"}`:
/// its media time (seconds on the player's timeline) and the wall-clock times (Unix seconds) the
/// gateway received its newest frame and handed it over — what a player needs for a latency
/// readout (see docs/socketio.md).
struct LiveWebSocketEndpoint {
    let users: UserService
    let streamTokens: StreamTokens
    let live: LiveViewing
    let events: EventBus
    static let prefix = "/ws/cameras/"

    /// The principal and the camera's provider, or the error a plain GET gets.
    func authorize(path: String, query: [String: String], authorization: String?) async throws -> (Principal, String, LiveViewing.Feed) {
        let cameraID = String(path.dropFirst(Self.prefix.count))
        guard CameraID.isValid(cameraID) else { throw GatewayError.notFound() }
        // A URL carries only the camera's stream token (POST /api/cameras/{id}/stream/token).
        let principal = try await CredentialCheck(users: users, streamTokens: streamTokens)
            .principal(Credentials.read(authorization: authorization, urlToken: query["token"]), cameraID: cameraID)
        return (principal, cameraID, try await live.liveProvider(for: principal, cameraID: cameraID))
    }

    /// The handler for `/ws/cameras/{id}`: the live stream, or — when the token or the access
    /// decision says no — a close with code 4000 + the HTTP status (4401, 4403, 4404) and the
    /// reason, since a refused upgrade cannot carry one to a browser.
    func session(for request: HTTPRequest) async -> WebSocketSession? {
        let uri = URI(request.path ?? "")
        guard uri.path.hasPrefix(Self.prefix) else { return nil }
        let principal: Principal, cameraID: String, provider: LiveViewing.Feed
        do {
            (principal, cameraID, provider) = try await authorize(path: uri.path, query: EngineIOServer.query(of: uri),
                                                                  authorization: request.headerFields[.authorization])
        } catch {
            let refusal = GatewayError.from(error) ?? .internal
            return { _, outbound, _ in
                try await outbound.close(Self.closeCode(of: refusal), reason: refusal.message)
            }
        }
        let timing = EngineIOServer.query(of: uri)["timing"] == "1"
        return { inbound, outbound, _ in
            let reader = provider.subscribe("ws:\(principal.username)")
            defer { reader.close() }
            let session = ViewingSession(events: events, kind: .live, actor: principal.username, camera: cameraID,
                                         details: JSONObject([("via", .string("websocket"))]))
            defer { session.end() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await _ in inbound {} }
                group.addTask {
                    await live.cameras.access.untilRevoked(principal, cameraID: cameraID)
                    try await outbound.close(Self.closeCode(of: GatewayError(.forbidden, "")), reason: "access to this camera was revoked")
                }
                group.addTask {
                    for await event in reader {
                        switch event {
                        case .initSegment(let segment):
                            try await outbound.write(.text(JSONWriter.string(.object(JSONObject([
                                ("type", .string("init")), ("codecs", .string(segment.codecs)), ("mimeType", .string(segment.mimeType)),
                            ])))))
                            try await outbound.write(.binary(ByteBuffer(bytes: segment.bytes)))
                            session.add(bytes: segment.bytes.count)
                        case .fragment(let fragment):
                            if timing { try await outbound.write(.text(JSONWriter.string(.object(JSONObject(fragment.timing))))) }
                            try await outbound.write(.binary(ByteBuffer(bytes: fragment.bytes)))
                            session.add(bytes: fragment.bytes.count)
                        case .skipped:
                            break
                        }
                    }
                    // The camera's pipeline stopped (deleted, or restarted after a change): 1012
                    // (service restart) tells the player to connect again.
                    if !Task.isCancelled { try await outbound.close(.unknown(1012), reason: "the camera's stream restarted") }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }

    /// The WebSocket close code of a domain error: 4000 + its HTTP status (4401, 4403, 4404, 4429).
    static func closeCode(of error: GatewayError) -> WebSocketErrorCode {
        .unknown(4000 + UInt16(APIError.status(of: error).code))
    }

    /// Without an upgrade: the error a WebSocket client would have met, or 400.
    func register(on router: Router<GatewayRequestContext>) {
        router.get("/ws/cameras/:id") { request, _ -> Response in
            _ = try await authorize(path: request.uri.path, query: EngineIOServer.query(of: request.uri),
                                    authorization: request.headers[.authorization])
            throw GatewayError(.websocketRequired, "this endpoint speaks WebSocket")
        }
    }
}
