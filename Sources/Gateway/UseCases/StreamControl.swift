import GatewayCore
import JSON
/// `stream/start` and `stream/stop` for every front end (REST, seed 001's routes, Socket.IO):
/// operators and up; the HLS muxer starts on demand and the caller gets a URL a player can
/// open without headers (a camera-scoped stream token in the query).
public struct StreamControl: Sendable {
    let access: AccessControl
    let manager: CameraManager
    let tokens: StreamTokens
    let events: EventBus

    public func start(_ principal: Principal, cameraID: String) async throws -> String {
        _ = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if let hls = manager.sink(of: cameraID, as: (any HLSProvider).self) {
            await hls.resume(player: principal.username)
            let token = try await tokens.token(userID: principal.userID, cameraID: cameraID)
            return "/hls/\(cameraID)/index.m3u8?token=\(token)"
        }
        if manager.sink(of: cameraID, as: (any LiveFragmentProvider).self) != nil {
            events.emit(GatewayEvent(name: "stream.started", actor: principal.username, camera: cameraID,
                                     details: JSONObject([("protocol", .string("websocket"))])))
            return "/ws/cameras/\(cameraID)?token=\(try await tokens.token(userID: principal.userID, cameraID: cameraID))"
        }
        throw GatewayError(.notStreamable, "camera '\(cameraID)' has no hls or websocket sink")
    }

    /// A camera-scoped stream token for URLs (`/ws/cameras/{id}?token=`, MJPEG `<img src>`), for
    /// anyone who may view the camera: an account token never goes in a URL.
    public func urlToken(_ principal: Principal, cameraID: String) async throws -> String {
        _ = try await access.authorize(principal, cameraID: cameraID, for: .view)
        return try await tokens.token(userID: principal.userID, cameraID: cameraID)
    }

    public func stop(_ principal: Principal, cameraID: String) async throws {
        _ = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if let hls = manager.sink(of: cameraID, as: (any HLSProvider).self) {
            await hls.stop()
        } else {
            events.emit(GatewayEvent(name: "stream.stopped", actor: principal.username, camera: cameraID,
                                     details: JSONObject([("protocol", .string("websocket"))])))
        }
    }
}
