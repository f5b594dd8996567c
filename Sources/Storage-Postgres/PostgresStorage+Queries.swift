import GatewayCore
import JSON
import PostgresNIO

// Text orders use COLLATE "C" (byte order), as SQLite does, so that every backend lists the same
// way whatever the database's locale.
extension PostgresStorage {
    // MARK: Users

    public func insertUser(_ user: UserRecord) async throws {
        try await execute("insert user", """
            INSERT INTO users (id, username, password_hash, role, created_at)
            VALUES (\(user.id), \(user.username), \(user.passwordHash), \(user.role.rawValue), \(user.createdAt))
            """)
    }

    public func user(named username: String) async throws -> UserRecord? {
        try await lookup(UserByName.self, username)
    }

    public func user(id: String) async throws -> UserRecord? {
        try await lookup(UserByID.self, id)
    }

    public func users() async throws -> [UserRecord] {
        try await rows("users", "SELECT \(unescaped: Self.userColumns) FROM users ORDER BY username COLLATE \"C\"", Self.user)
    }

    public func updatePasswordHash(username: String, hash: String) async throws {
        try await execute("update password", "UPDATE users SET password_hash = \(hash) WHERE username = \(username)")
    }

    public func updateUserRole(username: String, role: UserRole) async throws -> Bool {
        try await affected("update role", "UPDATE users SET role = \(role.rawValue) WHERE username = \(username) RETURNING id")
    }

    static let userColumns = "id, username, password_hash, role, created_at"

    static func user(_ row: PostgresRow) throws -> UserRecord {
        let (id, username, hash, role, createdAt) = try row.decode((String, String, String, String, Double).self)
        return UserRecord(id: id, username: username, passwordHash: hash, role: UserRole(rawValue: role) ?? .user, createdAt: createdAt)
    }

    // MARK: Cameras

    public func upsertCamera(_ camera: CameraRecord) async throws {
        try await execute("upsert camera", """
            INSERT INTO cameras (id, name, owner, source, sinks, origin, source_trust, created_at, updated_at)
            VALUES (\(camera.id), \(camera.name), \(camera.owner), \(JSONWriter.string(camera.source)), \(JSONWriter.string(camera.sinks)),
                    \(camera.origin.rawValue), \(camera.sourceTrust.rawValue), \(camera.createdAt), \(camera.updatedAt))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner = excluded.owner, source = excluded.source,
                sinks = excluded.sinks, origin = excluded.origin, source_trust = excluded.source_trust, updated_at = excluded.updated_at
            """)
    }

    public func camera(id: String) async throws -> CameraRecord? {
        try await lookup(CameraByID.self, id)
    }

    public func cameras() async throws -> [CameraRecord] {
        try await rows("cameras", "SELECT \(unescaped: Self.cameraColumns) FROM cameras ORDER BY created_at, id COLLATE \"C\"", Self.camera)
    }

    /// Deletes the camera; its grants go with it in the same statement (`ON DELETE CASCADE`).
    public func deleteCamera(id: String) async throws -> Bool {
        try await affected("delete camera", "DELETE FROM cameras WHERE id = \(id) RETURNING id")
    }

    static let cameraColumns = "id, name, owner, source, sinks, origin, source_trust, created_at, updated_at"

    static func camera(_ row: PostgresRow) throws -> CameraRecord {
        let (id, name, owner, source, sinks, origin, trust, createdAt, updatedAt) =
            try row.decode((String, String, String?, String, String, String, String, Double, Double).self)
        return CameraRecord(id: id, name: name, owner: owner, source: (try? JSONParser.parse(source)) ?? .object(JSONObject()),
                            sinks: (try? JSONParser.parse(sinks)) ?? .array([]), origin: CameraOrigin(rawValue: origin) ?? .api,
                            sourceTrust: SourceTrust(rawValue: trust) ?? .restricted, createdAt: createdAt, updatedAt: updatedAt)
    }

    // MARK: Grants

    public func putGrant(_ grant: GrantRecord) async throws {
        try await execute("put grant", """
            INSERT INTO grants (camera_id, username, role, expires_at, granted_by, created_at)
            VALUES (\(grant.cameraID), \(grant.username), \(grant.role.rawValue), \(grant.expiresAt), \(grant.grantedBy), \(grant.createdAt))
            ON CONFLICT (camera_id, username) DO UPDATE SET role = excluded.role, expires_at = excluded.expires_at,
                granted_by = excluded.granted_by, created_at = excluded.created_at
            """)
    }

    public func grant(cameraID: String, username: String) async throws -> GrantRecord? {
        try await lookup(GrantOf.self, cameraID, username)
    }

    public func grants(cameraID: String) async throws -> [GrantRecord] {
        try await rows("grants", """
            SELECT \(unescaped: Self.grantColumns) FROM grants WHERE camera_id = \(cameraID) ORDER BY username COLLATE "C"
            """, Self.grant)
    }

    public func grants(username: String) async throws -> [GrantRecord] {
        try await rows("grants", """
            SELECT \(unescaped: Self.grantColumns) FROM grants WHERE username = \(username) ORDER BY camera_id COLLATE "C"
            """, Self.grant)
    }

    public func deleteGrant(cameraID: String, username: String) async throws -> Bool {
        try await affected("delete grant", "DELETE FROM grants WHERE camera_id = \(cameraID) AND username = \(username) RETURNING camera_id")
    }

    static let grantColumns = "camera_id, username, role, expires_at, granted_by, created_at"

    static func grant(_ row: PostgresRow) throws -> GrantRecord {
        let (cameraID, username, role, expiresAt, grantedBy, createdAt) = try row.decode((String, String, String, Double?, String, Double).self)
        return GrantRecord(cameraID: cameraID, username: username, role: GrantRole(rawValue: role) ?? .viewer, expiresAt: expiresAt,
                           grantedBy: grantedBy, createdAt: createdAt)
    }

    // MARK: Videos

    public func insertVideo(_ video: VideoRecord) async throws {
        try await execute("insert video", """
            INSERT INTO videos (id, camera_id, kind, status, path, start_time, end_time, size, label, created_by, created_at, details)
            VALUES (\(video.id), \(video.cameraID), \(video.kind.rawValue), \(video.status.rawValue), \(video.path), \(video.start),
                    \(video.end), \(video.size), \(video.label), \(video.createdBy), \(video.createdAt),
                    \(JSONWriter.string(.object(video.details))))
            """)
    }

    public func updateVideo(_ video: VideoRecord) async throws {
        try await execute("update video", """
            UPDATE videos SET camera_id = \(video.cameraID), kind = \(video.kind.rawValue), status = \(video.status.rawValue),
                path = \(video.path), start_time = \(video.start), end_time = \(video.end), size = \(video.size), label = \(video.label),
                created_by = \(video.createdBy), created_at = \(video.createdAt), details = \(JSONWriter.string(.object(video.details)))
            WHERE id = \(video.id)
            """)
    }

    public func video(id: String) async throws -> VideoRecord? {
        try await rows("video", "SELECT \(unescaped: Self.videoColumns) FROM videos WHERE id = \(id)", Self.video).first
    }

    public func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int) {
        if query.cameraIDs?.isEmpty == true { return ([], 0) }
        let cameraIDs = query.cameraIDs
        let kind = query.kind?.rawValue
        let createdBy = query.createdBy
        // NULL parameters switch a condition off, so the statements' text stays the same.
        let count: PostgresQuery = """
            SELECT COUNT(*) FROM videos
            WHERE (\(cameraIDs)::text[] IS NULL OR camera_id = ANY(\(cameraIDs)::text[])) AND (\(kind)::text IS NULL OR kind = \(kind)::text)
            AND (\(createdBy)::text IS NULL OR created_by = \(createdBy)::text)
            """
        let page: PostgresQuery = """
            SELECT \(unescaped: Self.videoColumns) FROM videos
            WHERE (\(cameraIDs)::text[] IS NULL OR camera_id = ANY(\(cameraIDs)::text[])) AND (\(kind)::text IS NULL OR kind = \(kind)::text)
            AND (\(createdBy)::text IS NULL OR created_by = \(createdBy)::text)
            ORDER BY created_at DESC, id COLLATE "C" LIMIT \(query.limit) OFFSET \(query.offset)
            """
        let total = try await rows("count videos", count) { try $0.decode(Int.self) }.first ?? 0
        return (try await rows("videos", page, Self.video), total)
    }

    public func deleteVideo(id: String) async throws -> Bool {
        try await affected("delete video", "DELETE FROM videos WHERE id = \(id) RETURNING id")
    }

    public func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int {
        try await rows("stored bytes", "SELECT COALESCE(SUM(size), 0)::int8 FROM videos WHERE created_by = \(createdBy) AND kind = \(kind.rawValue)") {
            try $0.decode(Int.self)
        }.first ?? 0
    }

    static let videoColumns = "id, camera_id, kind, status, path, start_time, end_time, size, label, created_by, created_at, details"

    static func video(_ row: PostgresRow) throws -> VideoRecord {
        let (id, cameraID, kind, status, path, start, end, size, label, createdBy, createdAt, detailsText) =
            try row.decode((String, String?, String, String, String, Double?, Double?, Int, String?, String?, Double, String).self)
        var details = JSONObject()
        if case .object(let object)? = try? JSONParser.parse(detailsText) { details = object }
        return VideoRecord(id: id, cameraID: cameraID, kind: VideoKind(rawValue: kind) ?? .clip, status: VideoStatus(rawValue: status) ?? .pending,
                           path: path, start: start, end: end, size: size, label: label, createdBy: createdBy, createdAt: createdAt,
                           details: details)
    }

    // MARK: Running statements

    /// One row by its key, through a named prepared statement (prepared once per connection).
    func lookup<Spec: RowLookup>(_ spec: Spec.Type, _ keys: String...) async throws -> Spec.Row? {
        try await bounded(Spec.name) { client in try await client.execute(Lookup<Spec>(keys: keys)).first { _ in true } }
    }

    func execute(_ what: String, _ query: PostgresQuery) async throws {
        try await bounded(what) { [logger] client in _ = try await client.query(query, logger: logger).collect() }
    }

    func rows<T: Sendable>(_ what: String, _ query: PostgresQuery, _ decode: @escaping @Sendable (PostgresRow) throws -> T) async throws -> [T] {
        try await bounded(what) { [logger] client in try await client.query(query, logger: logger).collect().map(decode) }
    }

    /// Whether a `… RETURNING` statement touched a row.
    func affected(_ what: String, _ query: PostgresQuery) async throws -> Bool {
        try await !rows(what, query) { _ in true }.isEmpty
    }
}

// MARK: Prepared lookups

/// A hot read: a statement prepared once per connection, its text keys as `$1`, `$2`…
protocol RowLookup {
    associatedtype Row: Sendable
    static var name: String { get }
    static var sql: String { get }
    static func decode(_ row: PostgresRow) throws -> Row
}

struct Lookup<Spec: RowLookup>: PostgresPreparedStatement {
    typealias Row = Spec.Row
    static var name: String { "gateway_" + Spec.name }
    static var sql: String { Spec.sql }
    let keys: [String]

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: keys.count)
        for key in keys { binds.append(key) }
        return binds
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try Spec.decode(row) }
}

enum UserByName: RowLookup {
    static let name = "user_by_name"
    static let sql = "SELECT \(PostgresStorage.userColumns) FROM users WHERE username = $1"
    static func decode(_ row: PostgresRow) throws -> UserRecord { try PostgresStorage.user(row) }
}

enum UserByID: RowLookup {
    static let name = "user_by_id"
    static let sql = "SELECT \(PostgresStorage.userColumns) FROM users WHERE id = $1"
    static func decode(_ row: PostgresRow) throws -> UserRecord { try PostgresStorage.user(row) }
}

enum CameraByID: RowLookup {
    static let name = "camera_by_id"
    static let sql = "SELECT \(PostgresStorage.cameraColumns) FROM cameras WHERE id = $1"
    static func decode(_ row: PostgresRow) throws -> CameraRecord { try PostgresStorage.camera(row) }
}

enum GrantOf: RowLookup {
    static let name = "grant_of"
    static let sql = "SELECT \(PostgresStorage.grantColumns) FROM grants WHERE camera_id = $1 AND username = $2"
    static func decode(_ row: PostgresRow) throws -> GrantRecord { try PostgresStorage.grant(row) }
}
