import GatewayCore
import JSON

extension MongoStorage {
    // MARK: Users

    public func insertUser(_ user: UserRecord) async throws {
        try await insert("users", Self.document(user))
    }

    public func user(named username: String) async throws -> UserRecord? {
        try await find("users", JSONObject([("username", .string(username))]), options: Self.limit(1)).first.map(Self.user)
    }

    public func user(id: String) async throws -> UserRecord? {
        try await find("users", JSONObject([("_id", .string(id))]), options: Self.limit(1)).first.map(Self.user)
    }

    public func users() async throws -> [UserRecord] {
        try await find("users", JSONObject(), options: Self.sort([("username", 1)])).map(Self.user)
    }

    public func updatePasswordHash(username: String, hash: String) async throws {
        _ = try await update("users", JSONObject([("username", .string(username))]),
                             .object(JSONObject([("$set", .object(JSONObject([("password", .string(hash))])))])))
    }

    public func updateUserRole(username: String, role: UserRole) async throws -> Bool {
        try await update("users", JSONObject([("username", .string(username))]),
                         .object(JSONObject([("$set", .object(JSONObject([("role", .string(role.rawValue))])))]))) > 0
    }

    // MARK: Cameras

    public func upsertCamera(_ camera: CameraRecord) async throws {
        var document = Self.document(camera)
        // An existing camera keeps its creation time.
        if let existing = try await find("cameras", JSONObject([("_id", .string(camera.id))]), options: Self.limit(1)).first {
            document["createdAt"] = existing["createdAt"] ?? document["createdAt"]
        }
        _ = try await update("cameras", JSONObject([("_id", .string(camera.id))]), .object(document), upsert: true)
    }

    public func camera(id: String) async throws -> CameraRecord? {
        try await find("cameras", JSONObject([("_id", .string(id))]), options: Self.limit(1)).first.map(Self.camera)
    }

    public func cameras() async throws -> [CameraRecord] {
        try await find("cameras", JSONObject(), options: Self.sort([("createdAt", 1), ("_id", 1)])).map(Self.camera)
    }

    /// Deletes the camera, then its grants (MongoDB has no cascade; a standalone server has no
    /// transactions: grants left by a failure between the two are deleted by the next attempt).
    public func deleteCamera(id: String) async throws -> Bool {
        let deleted = try await delete("cameras", JSONObject([("_id", .string(id))]), all: false)
        _ = try await delete("grants", JSONObject([("cameraId", .string(id))]), all: true)
        return deleted > 0
    }

    // MARK: Grants

    /// A grant must name a camera and a user that exist (checked first: MongoDB has no foreign keys).
    public func putGrant(_ grant: GrantRecord) async throws {
        guard try await camera(id: grant.cameraID) != nil, try await user(named: grant.username) != nil else {
            throw StorageError(.missingReference, component: "storage.mongodb", "refers to something that does not exist")
        }
        _ = try await update("grants", Self.grantKey(grant.cameraID, grant.username), .object(Self.document(grant)), upsert: true)
    }

    public func grant(cameraID: String, username: String) async throws -> GrantRecord? {
        try await find("grants", Self.grantKey(cameraID, username), options: Self.limit(1)).first.map(Self.grant)
    }

    public func grants(cameraID: String) async throws -> [GrantRecord] {
        try await find("grants", JSONObject([("cameraId", .string(cameraID))]), options: Self.sort([("username", 1)])).map(Self.grant)
    }

    public func grants(username: String) async throws -> [GrantRecord] {
        try await find("grants", JSONObject([("username", .string(username))]), options: Self.sort([("cameraId", 1)])).map(Self.grant)
    }

    public func deleteGrant(cameraID: String, username: String) async throws -> Bool {
        try await delete("grants", Self.grantKey(cameraID, username), all: false) > 0
    }

    static func grantKey(_ cameraID: String, _ username: String) -> JSONObject {
        JSONObject([("cameraId", .string(cameraID)), ("username", .string(username))])
    }

    // MARK: Videos

    public func insertVideo(_ video: VideoRecord) async throws {
        try await insert("videos", Self.document(video))
    }

    public func updateVideo(_ video: VideoRecord) async throws {
        _ = try await update("videos", JSONObject([("_id", .string(video.id))]), .object(Self.document(video)))
    }

    public func video(id: String) async throws -> VideoRecord? {
        try await find("videos", JSONObject([("_id", .string(id))]), options: Self.limit(1)).first.map(Self.video)
    }

    public func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int) {
        var filter = JSONObject()
        if let cameraIDs = query.cameraIDs {
            if cameraIDs.isEmpty { return ([], 0) }
            filter["cameraId"] = .object(JSONObject([("$in", .array(cameraIDs.map { .string($0) }))]))
        }
        if let kind = query.kind { filter["kind"] = .string(kind.rawValue) }
        if let createdBy = query.createdBy { filter["createdBy"] = .string(createdBy) }
        var options = Self.sort([("createdAt", -1), ("_id", 1)])
        options["skip"] = .int(query.offset)
        options["limit"] = .int(query.limit)
        let page = try await find("videos", filter, options: options).map(Self.video)
        return (page, try await sum("count videos", filter, of: .int(1)))
    }

    public func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int {
        try await sum("stored bytes", JSONObject([("createdBy", .string(createdBy)), ("kind", .string(kind.rawValue))]), of: .string("$size"))
    }

    /// `$sum` of `value` over the videos `filter` matches (1 counts them).
    private func sum(_ what: String, _ filter: JSONObject, of value: JSONValue) async throws -> Int {
        let answer = try await command(what, .object(JSONObject([
            ("aggregate", .string("videos")),
            ("pipeline", .array([.object(JSONObject([("$match", .object(filter))])),
                                 .object(JSONObject([("$group", .object(JSONObject([("_id", .null), ("n", .object(JSONObject([("$sum", value)])))])))]))])),
            ("cursor", .object(JSONObject())),
        ])))
        if case .object(let cursor)? = answer["cursor"], case .array(let batch)? = cursor["firstBatch"], case .object(let group)? = batch.first {
            return group["n"]?.integer ?? 0
        }
        return 0
    }

    public func deleteVideo(id: String) async throws -> Bool {
        try await delete("videos", JSONObject([("_id", .string(id))]), all: false) > 0
    }

    // MARK: Write commands

    func insert(_ collection: String, _ document: JSONObject) async throws {
        _ = try await command("insert into \(collection)", .object(JSONObject([
            ("insert", .string(collection)), ("documents", .array([.object(document)])),
        ])))
    }

    /// Replaces (or, with operators, changes) the first match; the number matched.
    func update(_ collection: String, _ filter: JSONObject, _ change: JSONValue, upsert: Bool = false) async throws -> Int {
        let reply = try await command("update \(collection)", .object(JSONObject([
            ("update", .string(collection)),
            ("updates", .array([.object(JSONObject([("q", .object(filter)), ("u", change), ("upsert", .bool(upsert)), ("multi", .bool(false))]))])),
        ])))
        return reply["n"]?.integer ?? 0
    }

    /// Deletes the first match, or all; the number deleted.
    func delete(_ collection: String, _ filter: JSONObject, all: Bool) async throws -> Int {
        let reply = try await command("delete from \(collection)", .object(JSONObject([
            ("delete", .string(collection)),
            ("deletes", .array([.object(JSONObject([("q", .object(filter)), ("limit", .int(all ? 0 : 1))]))])),
        ])))
        return reply["n"]?.integer ?? 0
    }

    static func limit(_ count: Int) -> JSONObject { JSONObject([("limit", .int(count))]) }

    static func sort(_ keys: [(String, Int)]) -> JSONObject {
        JSONObject([("sort", .object(JSONObject(keys.map { ($0.0, JSONValue.int($0.1)) })))])
    }
}
