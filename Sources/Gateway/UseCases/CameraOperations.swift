import GatewayCore
import JSON
/// What users do with cameras and grants, for every front end (REST, seed routes, Socket.IO):
/// authorization through `AccessControl`, persistence, pipeline changes and events in one place.
public struct CameraOperations: Sendable {
    let storage: any StorageBackend
    let access: AccessControl
    let manager: CameraManager
    let events: EventBus
    let sources: SourcePolicy
    let limits: LimitsConfig

    /// A camera as a user describes it: plugins.json's `cameras[]` shape without the id rules.
    public struct Input: Decodable, Sendable {
        public var id: String?
        public var name: String
        public var owner: String?
        public var source: JSONValue
        public var sinks: JSONValue?

        public init(id: String? = nil, name: String, owner: String? = nil, source: JSONValue, sinks: JSONValue? = nil) {
            self.id = id
            self.name = name
            self.owner = owner
            self.source = source
            self.sinks = sinks
        }
    }

    /// Fields a PATCH may change.
    public struct Patch: Decodable, Sendable {
        public var name: String?
        public var owner: String?
        public var source: JSONValue?
        public var sinks: JSONValue?
    }

    /// Cameras added through seed 001's `addCamera` stream as its frontend expects: HLS, and
    /// fMP4 over WebSocket.
    public static let seedSinks: JSONValue = .array([
        .object(JSONObject([("type", .string("hls"))])), .object(JSONObject([("type", .string("websocket"))])),
    ])

    public func list(_ principal: Principal) async throws -> [(CameraRecord, CameraRole)] {
        try await access.visibleCameras(principal)
    }

    public func get(_ principal: Principal, id: String) async throws -> (CameraRecord, CameraRole) {
        try await access.authorize(principal, cameraID: id, for: .view)
    }

    public func create(_ principal: Principal, _ input: Input) async throws -> CameraRecord {
        let id = input.id ?? Identifier.make(prefix: "cam-")
        guard CameraID.isValid(id) else { throw GatewayError.badRequest("id must be \(CameraID.rules)") }
        if try await storage.camera(id: id) != nil {
            // An id taken by a camera the caller cannot see answers as any invisible camera does.
            _ = try await access.authorize(principal, cameraID: id, for: .view)
            throw GatewayError(.cameraExists, "camera '\(id)' exists")
        }
        let owner = try await resolveOwner(input.owner, principal: principal) ?? principal.username
        if !principal.isAdmin, try await storage.cameras().count(where: { $0.owner == owner }) >= limits.camerasPerUser {
            throw GatewayError(.limitReached, "you may own at most \(limits.camerasPerUser) cameras")
        }
        try await checkSourcePolicy(principal, source: input.source, sinks: input.sinks)
        let now = WallClock.now()
        let record = CameraRecord(id: id, name: input.name, owner: owner, source: input.source, sinks: input.sinks ?? .array([]),
                                  origin: .api, sourceTrust: principal.isAdmin ? .unrestricted : .restricted, createdAt: now, updatedAt: now)
        try validate(record)
        if try await storage.camera(id: id) != nil { throw GatewayError(.cameraExists, "camera '\(id)' exists") }
        try await storage.upsertCamera(record)
        try manager.start(record)
        events.emit(GatewayEvent(name: "camera.created", actor: principal.username, camera: id,
                                 details: JSONObject([("name", .string(input.name)), ("source_type", record.source["type"] ?? .null)])))
        return record
    }

    public func update(_ principal: Principal, id: String, _ patch: Patch) async throws -> (CameraRecord, CameraRole) {
        var (record, role) = try await access.authorize(principal, cameraID: id, for: .manage)
        try requireAPIOrigin(record)
        try await checkSourcePolicy(principal, source: patch.source, sinks: patch.sinks)
        var changed: [JSONValue] = []
        if let name = patch.name { record.name = name; changed.append(.string("name")) }
        if let source = patch.source {
            record.source = source
            record.sourceTrust = principal.isAdmin ? .unrestricted : .restricted
            changed.append(.string("source"))
        }
        if let sinks = patch.sinks { record.sinks = sinks; changed.append(.string("sinks")) }
        if patch.owner != nil {
            record.owner = try await resolveOwner(patch.owner, principal: principal)
            changed.append(.string("owner"))
        }
        record.updatedAt = WallClock.now()
        try validate(record)
        try await storage.upsertCamera(record)
        if patch.source != nil || patch.sinks != nil || patch.name != nil { try manager.start(record) }
        access.changes.notify()
        events.emit(GatewayEvent(name: "camera.updated", actor: principal.username, camera: id, details: JSONObject([("changed", .array(changed))])))
        return (record, role)
    }

    public func delete(_ principal: Principal, id: String) async throws {
        let (record, _) = try await access.authorize(principal, cameraID: id, for: .manage)
        try requireAPIOrigin(record)
        try await remove(id: id, actor: principal.username)
    }

    /// Stops camera `id` and deletes it with its videos (open streams of it end); an API delete
    /// and a camera taken out of plugins.json go the same way.
    func remove(id: String, actor: String?) async throws {
        _ = try await storage.deleteCamera(id: id)
        manager.stop(id: id)
        let removed = try await deleteVideos(ofCamera: id)
        access.changes.notify()
        events.emit(GatewayEvent(name: "camera.deleted", actor: actor, camera: id,
                                 details: JSONObject([("videos_deleted", .int(removed))])))
    }

    public func share(_ principal: Principal, id: String, username: String, role: GrantRole, expiresAt: Double?) async throws -> GrantRecord {
        let (record, _) = try await access.authorize(principal, cameraID: id, for: .manage)
        // The camera exists (or the line above said 404): an unknown user is a problem of the body, not of the path.
        guard let user = try await storage.user(named: username) else {
            throw GatewayError(.invalidRequest, "user '\(username)' not found",
                               details: [ConfigProblem(path: "username", reason: "no such user", isUnusable: true)])
        }
        guard user.username != record.owner else { throw GatewayError(.owner, "'\(username)' owns this camera") }
        if let expiresAt, !WallClock.representable.contains(expiresAt) { throw GatewayError.badRequest("expires_at must be a time between 1970 and 9999") }
        if let expiresAt, expiresAt <= WallClock.now() {
            throw GatewayError(.expired, "expires_at must be in the future")
        }
        let grant = GrantRecord(cameraID: id, username: username, role: role, expiresAt: expiresAt,
                                grantedBy: principal.username, createdAt: WallClock.now())
        try await storage.putGrant(grant)
        var details = JSONObject([("username", .string(username)), ("role", .string(role.rawValue))])
        if let expiresAt { details["expires_at"] = .string(WallClock.iso8601(expiresAt)) }
        access.changes.notify()
        events.emit(GatewayEvent(name: "camera.shared", actor: principal.username, camera: id, details: details))
        return grant
    }

    public func shares(_ principal: Principal, id: String) async throws -> [GrantRecord] {
        _ = try await access.authorize(principal, cameraID: id, for: .manage)
        return try await storage.grants(cameraID: id)
    }

    public func unshare(_ principal: Principal, id: String, username: String) async throws {
        _ = try await access.authorize(principal, cameraID: id, for: .manage)
        guard try await storage.deleteGrant(cameraID: id, username: username) else {
            throw GatewayError.notFound("camera '\(id)' is not shared with '\(username)'")
        }
        access.changes.notify()
        events.emit(GatewayEvent(name: "camera.unshared", actor: principal.username, camera: id, details: JSONObject([("username", .string(username))])))
    }

    /// A camera's clips and recordings go with it: a later camera with the same id inherits nothing.
    private func deleteVideos(ofCamera id: String) async throws -> Int {
        var removed = 0
        while true {
            let (page, _) = try await storage.videos(VideoQuery(cameraIDs: [id], offset: 0, limit: 100))
            var progressed = false
            for video in page {
                FileIO.remove(video.path)
                if try await storage.deleteVideo(id: video.id) { removed += 1; progressed = true }
            }
            if !progressed { return removed }
        }
    }

    /// A user who is not an admin may only choose what the `sources` policy allows.
    private func checkSourcePolicy(_ principal: Principal, source: JSONValue?, sinks: JSONValue?) async throws {
        guard !principal.isAdmin else { return }
        let problems = await sources.problems(source: source, sinks: sinks, knownTypes: manager.knownSourceTypes)
        guard problems.isEmpty else {
            throw GatewayError(.sourceNotAllowed, problems.map(\.description).joined(separator: "; "), details: problems)
        }
    }

    private func validate(_ record: CameraRecord) throws {
        if case .failure(let errors) = manager.validate(record) { throw GatewayError.invalidCamera(errors) }
    }

    /// Only admins may give a camera to someone else.
    private func resolveOwner(_ owner: String?, principal: Principal) async throws -> String? {
        guard let owner, owner != principal.username else { return owner }
        guard principal.isAdmin else { throw GatewayError(.forbidden, "only an admin may set another owner") }
        guard try await storage.user(named: owner) != nil else {
            throw GatewayError(.unknownOwner, "owner '\(owner)' is not a user")
        }
        return owner
    }

    private func requireAPIOrigin(_ record: CameraRecord) throws {
        guard record.origin == .api else {
            throw GatewayError(.managedByConfig, "camera '\(record.id)' is defined in plugins.json; change it there")
        }
    }
}
