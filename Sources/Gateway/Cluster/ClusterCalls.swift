import Hummingbird
import HTTPTypes
import ServiceLifecycle
import NIOHTTP1
import GatewayCore
import JSON

/// What only the node running a camera can do (trigger a clip, switch recording, start or stop
/// its HLS muxer), asked of that node by the one that took the request: `POST
/// /internal/cluster/call` (signed, `ClusterSignature`) with `{"op", "camera", "user",
/// "arguments"}`. The caller has checked the user's access; the owner reads the user again
/// from the shared database and checks again, running the same use case.
struct ClusterCalls: Sendable {
    let cluster: ClusterService
    let http: ClusterHTTP

    static let path = "/internal/cluster/call"

    /// Runs `op` on the node that runs `cameraID`; nil when that is this node.
    func remote(_ op: String, cameraID: String, principal: Principal, arguments: JSONObject = JSONObject()) async throws -> JSONValue? {
        switch cluster.placement(of: cameraID) {
        case .here:
            return nil
        case .moving:
            throw GatewayError(.streamUnavailable, "camera '\(cameraID)' is moving to another gateway node; try again in a moment", retryAfter: 1)
        case .node(_, let url, _):
            let body = JSONWriter.string(.object(JSONObject([
                ("op", .string(op)), ("camera", .string(cameraID)), ("user", .string(principal.username)), ("arguments", .object(arguments)),
            ])))
            let answer = try await http.request(.POST, base: url, path: Self.path, body: Array(body.utf8))
            let value = try? JSONParser.parse(answer.body)
            guard answer.status == 200, let result = value?["result"] else {
                let code = value?["error"]?["code"].flatMap(ClusterService.string).flatMap(GatewayError.Code.init(rawValue:)) ?? .internal
                let message = value?["error"]?["message"].flatMap(ClusterService.string) ?? "the node running the camera answered \(answer.status)"
                // The caller was authenticated here: the owner refusing this node is not the user's doing.
                if answer.status == 401 {
                    throw GatewayError(.streamUnavailable, "the node running camera '\(cameraID)' refused this node's call; try again in a moment",
                                       retryAfter: 1)
                }
                throw GatewayError(code, message, retryAfter: answer.status == 503 ? 1 : nil)
            }
            return result
        }
    }
}

/// The owner's side of `ClusterCalls` and of `ClusterLiveRelay`: routes only other nodes may
/// call (a valid `X-Gateway-Cluster` signature), never users.
struct ClusterInternalRoutes {
    let signature: ClusterSignature
    let storage: any StorageBackend
    let manager: CameraManager
    let clips: ClipControl
    let recording: RecordingControl
    let streams: StreamControl

    func register(on router: Router<GatewayRequestContext>) {
        router.post(RouterPath(ClusterCalls.path)) { request, _ -> Response in
            let body = Array((try await request.body.collect(upTo: 64 << 10)).readableBytesView)
            guard signature.verify(request.headers[HTTPField.Name(ClusterSignature.header)!], method: "POST", path: request.uri.path,
                                   body: body) != nil else {
                throw GatewayError(.unauthenticated, "not a node of this cluster")
            }
            guard let call = try? JSONParser.parse(body), let op = call["op"].flatMap(ClusterService.string),
                  let camera = call["camera"].flatMap(ClusterService.string), let username = call["user"].flatMap(ClusterService.string) else {
                throw GatewayError.badRequest("a call needs op, camera and user")
            }
            guard let user = try await storage.user(named: username) else { throw GatewayError(.unauthenticated, "no user '\(username)'") }
            let principal = Principal(userID: user.id, username: user.username, role: user.role)
            let arguments = call["arguments"] ?? .object(JSONObject())
            let result: JSONValue
            switch op {
            case "clip":
                let clip = try await clips.trigger(principal, cameraID: camera, pre: arguments["pre"]?.doubleValue, post: arguments["post"]?.doubleValue,
                                                   label: arguments["label"].flatMap(ClusterService.string))
                result = .object(JSONObject([("video_id", .string(clip.id))]))
            case "recording":
                let enabled: Bool? = if case .bool(let value)? = arguments["enabled"] { value } else { nil }
                result = .bool(try await recording.set(principal, cameraID: camera, enabled: enabled))
            case "stream.start":
                let started = try await streams.start(principal, cameraID: camera)
                result = .string(started.delivery == .hls ? "hls" : "websocket")
            case "stream.stop":
                try await streams.stop(principal, cameraID: camera)
                result = .bool(true)
            default:
                throw GatewayError.badRequest("unknown call '\(op.prefix(40))'")
            }
            return Response.json(.object(JSONObject([("result", result)])))
        }
        router.get("/internal/cluster/live/:camera") { request, context -> Response in
            guard let node = signature.verify(request.headers[HTTPField.Name(ClusterSignature.header)!], method: "GET", path: request.uri.path,
                                              body: []) else {
                throw GatewayError(.unauthenticated, "not a node of this cluster")
            }
            let cameraID = try context.parameters.require("camera")
            guard let provider = manager.sink(of: cameraID, as: (any LiveFragmentProvider).self) else {
                throw GatewayError(.streamUnavailable, "camera '\(cameraID)' does not run here", retryAfter: 1)
            }
            let reader = provider.subscribe(viewer: "cluster:\(node)")
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { reader.close() }
                try await withGracefulShutdownHandler {
                    for await event in reader {
                        guard let frame = ClusterLiveFrames.encode(event) else { continue }
                        try await writer.write(frame)
                    }
                } onGracefulShutdown: {
                    reader.close()
                }
                try await writer.finish(nil)
            })
        }
    }
}
