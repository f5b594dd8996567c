import GatewayCore
import JSON
/// A started stream: how a player gets it, and the camera-scoped token it presents in the URL.
/// The front end turns it into a URL (`MediaURL`); use cases know no routes.
public struct StartedStream: Sendable {
    public enum Delivery: Sendable { case hls, websocket }
    public let cameraID: String
    public let delivery: Delivery
    public let token: String
}

/// `stream/start` and `stream/stop` for every front end (REST, seed 001's routes, Socket.IO):
/// operators and up; the HLS muxer starts on demand and the caller gets what a player can open
/// without headers (a camera-scoped stream token for the URL's query).
public struct StreamControl: Sendable {
    let access: AccessControl
    let manager: CameraManager
    let tokens: StreamTokens
    let events: EventBus
    /// In a cluster: the node that runs the camera starts and stops its muxer.
    var calls: ClusterCalls?

    public func start(_ principal: Principal, cameraID: String) async throws -> StartedStream {
        let (record, _) = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if manager.pipeline(id: cameraID) == nil, record.hasSink("hls") || record.hasSink("websocket"), let calls,
           let result = try await calls.remote("stream.start", cameraID: cameraID, principal: principal) {
            let token = try await tokens.token(userID: principal.userID, cameraID: cameraID)
            return StartedStream(cameraID: cameraID, delivery: result == .string("hls") ? .hls : .websocket, token: token)
        }
        if let hls = manager.sink(of: cameraID, as: (any HLSProvider).self) {
            await hls.resume(player: principal.username)
            let token = try await tokens.token(userID: principal.userID, cameraID: cameraID)
            return StartedStream(cameraID: cameraID, delivery: .hls, token: token)
        }
        if manager.sink(of: cameraID, as: (any LiveFragmentProvider).self) != nil {
            events.emit(GatewayEvent(name: "stream.started", actor: principal.username, camera: cameraID,
                                     details: JSONObject([("protocol", .string("websocket"))])))
            let token = try await tokens.token(userID: principal.userID, cameraID: cameraID)
            return StartedStream(cameraID: cameraID, delivery: .websocket, token: token)
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
        let (record, _) = try await access.authorize(principal, cameraID: cameraID, for: .operate)
        if manager.pipeline(id: cameraID) == nil, record.hasSink("hls") || record.hasSink("websocket"), let calls,
           try await calls.remote("stream.stop", cameraID: cameraID, principal: principal) != nil {
            return
        }
        if let hls = manager.sink(of: cameraID, as: (any HLSProvider).self) {
            await hls.stop()
        } else {
            events.emit(GatewayEvent(name: "stream.stopped", actor: principal.username, camera: cameraID,
                                     details: JSONObject([("protocol", .string("websocket"))])))
        }
    }
}
