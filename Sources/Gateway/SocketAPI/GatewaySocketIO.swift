import Logging
import GatewayCore
import JSON
import SocketIO

/// The gateway's Socket.IO namespace `/`: a JWT (CONNECT auth `{"token": …}` or the
/// handshake's `Authorization` header) is required; every event runs the access decision.
struct GatewaySocketIO {
    let users: UserService
    let cameras: CameraOperations
    let manager: CameraManager
    let events: EventBus
    let streams: StreamControl
    let clips: ClipControl
    let recording: RecordingControl
    let playbacks: WorkSlots
    var relay: (cluster: ClusterService, feeds: ClusterLiveRelay)?

    func install(on server: SocketIOServer) {
        let namespace = server.namespace("/")
        namespace.authorize { auth, handshake in
            let credentials = Self.credentials(auth: auth, handshake: handshake)
            guard credentials != .none else {
                return .failure(SocketIOConnectError("authentication required: send {\"token\": \"…\"} in the auth payload"))
            }
            do {
                return .success(try await CredentialCheck(users: users, streamTokens: streams.tokens).principal(credentials))
            } catch {
                return .failure(SocketIOAnswer.refusal(error))
            }
        }
        let seed = SeedEvents(cameras: cameras, manager: manager, events: events, streams: streams, clips: clips, recording: recording)
        let live = LiveViewing(cameras: cameras, manager: manager, events: events, relay: relay)
        let playback = StoredPlayback(cameras: cameras, storage: cameras.storage, events: events, slots: playbacks)
        events.observe { event in
            guard event.name == "camera.state_changed", let camera = event.camera else { return }
            namespace.emit(to: LiveViewing.room(camera), "camera:state", [.object([
                ("cameraId", .string(camera)), ("state", .json(event.details["to"] ?? .null)), ("reason", .json(event.details["public_reason"] ?? .null)),
            ])])
        }
        namespace.onConnection { socket in
            guard let principal = socket.context as? Principal else { return socket.disconnect() }
            if let expiresAt = principal.expiresAt {
                // The connection lives no longer than the token it was opened with.
                socket.spawn {
                    let remaining = max(0, expiresAt - WallClock.now())
                    try? await Task.sleep(for: .milliseconds(Int64(min(remaining, 366 * 86_400) * 1000)))
                    if !Task.isCancelled { socket.disconnect() }
                }
            }
            seed.install(on: socket, principal: principal)
            live.install(on: socket, principal: principal)
            playback.install(on: socket, principal: principal)
        }
    }

    /// The handshake's `auth.token`, or its `Authorization` header — never the query string: an
    /// account token in a URL ends up in logs and histories.
    static func credentials(auth: JSONValue?, handshake: HandshakeRequest) -> Credentials {
        let token: String? = if case .string(let token)? = auth?["token"] { token } else { nil }
        let header = handshake.headers.first { $0.key.lowercased() == "authorization" }?.value
        return Credentials.read(authorization: header, handshakeToken: token)
    }
}

/// Seed 001's events, acknowledged in its shapes: `{success: true, …}` or `{success: false, error}`.
struct SeedEvents {
    let cameras: CameraOperations
    let manager: CameraManager
    let events: EventBus
    let streams: StreamControl
    let clips: ClipControl
    let recording: RecordingControl

    struct TriggerClip: Decodable {
        let cameraId: String
        let preSeconds: Double?
        let postSeconds: Double?
        let label: String?
        enum CodingKeys: String, CodingKey { case cameraId, preSeconds = "pre_seconds", postSeconds = "post_seconds", label }
    }

    struct CameraReference: Decodable { let cameraId: String }
    struct AddCamera: Decodable { let name: String; let rtspUrl: String }
    struct ShareCamera: Decodable { let cameraId: String; let username: String; let role: GrantRole? }

    func install(on socket: SocketIOSocket, principal: Principal) {
        socket.on("loadCameras") { _, ack in
            await answer(ack, listOnly: true) {
                let visible = try await cameras.list(principal)
                return .array(visible.map { Views.camera($0.0, role: $0.1, manager: manager) })
            }
        }
        socket.on("addCamera") { arguments, ack in
            await answer(ack) {
                let body = try argument(AddCamera.self, arguments)
                let record = try await cameras.create(principal, .init(
                    name: body.name, source: .object(JSONObject([("type", .string("rtsp")), ("url", .string(body.rtspUrl))])),
                    sinks: CameraOperations.seedSinks))
                return .object(JSONObject([("success", .bool(true)),
                                           ("camera", Views.camera(record, role: .owner, manager: manager))]))
            }
        }
        socket.on("deleteCamera") { arguments, ack in
            await answer(ack) {
                try await cameras.delete(principal, id: try argument(CameraReference.self, arguments).cameraId)
                return .object(JSONObject([("success", .bool(true))]))
            }
        }
        socket.on("shareCamera") { arguments, ack in
            await answer(ack) {
                let body = try argument(ShareCamera.self, arguments)
                let grant = try await cameras.share(principal, id: body.cameraId, username: body.username, role: body.role ?? .viewer, expiresAt: nil)
                return .object(JSONObject([("success", .bool(true)), ("share", Views.grant(grant))]))
            }
        }
        socket.on("startStream") { arguments, ack in
            await answer(ack) {
                let id = try argument(CameraReference.self, arguments).cameraId
                let started = try await streams.start(principal, cameraID: id)
                return .object(JSONObject([("success", .bool(true)), ("streamUrl", .string(MediaURL.of(started)))]))
            }
        }
        socket.on("stopStream") { arguments, ack in
            await answer(ack) {
                try await streams.stop(principal, cameraID: try argument(CameraReference.self, arguments).cameraId)
                return .object(JSONObject([("success", .bool(true))]))
            }
        }
        socket.on("triggerClip") { arguments, ack in
            await answer(ack) {
                let body = try argument(TriggerClip.self, arguments)
                let clip = try await clips.trigger(principal, cameraID: body.cameraId, pre: body.preSeconds, post: body.postSeconds, label: body.label)
                return .object(JSONObject([("success", .bool(true)), ("clip", Views.video(clip))]))
            }
        }
        socket.on("recordStream") { arguments, ack in
            await answer(ack) {
                let id = try argument(CameraReference.self, arguments).cameraId
                let on = try await recording.set(principal, cameraID: id, enabled: nil)
                return .object(JSONObject([("success", .bool(true)), ("recording", .bool(on))]))
            }
        }
    }

    func argument<T: Decodable>(_ type: T.Type, _ arguments: [SocketIOValue]) throws -> T {
        guard let first = arguments.first?.plainJSON else { throw GatewayError.badRequest("an object argument is required") }
        return try RequestBody.decode(type, from: first)
    }

    /// Runs `body` and acknowledges its value, or `{success: false, error, code}`.
    func answer(_ ack: SocketIOAck?, listOnly: Bool = false, _ body: () async throws -> JSONValue) async {
        do {
            let value = try await body()
            ack?(value)
        } catch {
            ack?(SocketIOAnswer.failure(error))
        }
    }
}
