import GatewayCore
import SQLiteNIO
import JSON

extension SQLiteStorage {
    // MARK: Users

    public func insertUser(_ user: UserRecord) async throws {
        try await run("INSERT INTO users (id, username, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
                      [.text(user.id), .text(user.username), .text(user.passwordHash), .text(user.role.rawValue), .float(user.createdAt)])
    }

    public func user(named username: String) async throws -> UserRecord? {
        try await run("SELECT * FROM users WHERE username = ?", [.text(username)]).first.map(Self.user)
    }

    public func user(id: String) async throws -> UserRecord? {
        try await run("SELECT * FROM users WHERE id = ?", [.text(id)]).first.map(Self.user)
    }

    public func users() async throws -> [UserRecord] {
        try await run("SELECT * FROM users ORDER BY username").map(Self.user)
    }

    public func updatePasswordHash(username: String, hash: String) async throws {
        try await run("UPDATE users SET password_hash = ? WHERE username = ?", [.text(hash), .text(username)])
    }

    public func updateUserRole(username: String, role: UserRole) async throws -> Bool {
        try await run("UPDATE users SET role = ? WHERE username = ?", [.text(role.rawValue), .text(username)])
        return try await changes() > 0
    }

    static func user(_ row: SQLiteRow) -> UserRecord {
        UserRecord(id: row.text("id"), username: row.text("username"), passwordHash: row.text("password_hash"),
                   role: UserRole(rawValue: row.text("role")) ?? .user, createdAt: row.double("created_at") ?? 0)
    }

    // MARK: Cameras

    public func upsertCamera(_ camera: CameraRecord) async throws {
        try await run("""
            INSERT INTO cameras (id, name, owner, source, sinks, origin, source_trust, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET name = excluded.name, owner = excluded.owner, source = excluded.source,
                sinks = excluded.sinks, origin = excluded.origin, source_trust = excluded.source_trust, updated_at = excluded.updated_at
            """, [.text(camera.id), .text(camera.name), camera.owner.map { .text($0) } ?? .null,
                  .text(JSONWriter.string(camera.source)), .text(JSONWriter.string(camera.sinks)),
                  .text(camera.origin.rawValue), .text(camera.sourceTrust.rawValue), .float(camera.createdAt), .float(camera.updatedAt)])
    }

    public func camera(id: String) async throws -> CameraRecord? {
        try await run("SELECT * FROM cameras WHERE id = ?", [.text(id)]).first.map(Self.camera)
    }

    public func cameras() async throws -> [CameraRecord] {
        try await run("SELECT * FROM cameras ORDER BY created_at, id").map(Self.camera)
    }

    public func deleteCamera(id: String) async throws -> Bool {
        try await run("DELETE FROM cameras WHERE id = ?", [.text(id)])
        return try await changes() > 0
    }

    static func camera(_ row: SQLiteRow) -> CameraRecord {
        CameraRecord(id: row.text("id"), name: row.text("name"), owner: row.column("owner")?.string,
                     source: (try? JSONParser.parse(row.text("source"))) ?? .object(JSONObject()),
                     sinks: (try? JSONParser.parse(row.text("sinks"))) ?? .array([]),
                     origin: CameraOrigin(rawValue: row.text("origin")) ?? .api,
                     sourceTrust: SourceTrust(rawValue: row.column("source_trust")?.string ?? "") ?? .restricted,
                     createdAt: row.double("created_at") ?? 0, updatedAt: row.double("updated_at") ?? 0)
    }

    // MARK: Grants

    public func putGrant(_ grant: GrantRecord) async throws {
        try await run("""
            INSERT INTO grants (camera_id, username, role, expires_at, granted_by, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(camera_id, username) DO UPDATE SET role = excluded.role, expires_at = excluded.expires_at,
                granted_by = excluded.granted_by, created_at = excluded.created_at
            """, [.text(grant.cameraID), .text(grant.username), .text(grant.role.rawValue),
                  grant.expiresAt.map { .float($0) } ?? .null, .text(grant.grantedBy), .float(grant.createdAt)])
    }

    public func grant(cameraID: String, username: String) async throws -> GrantRecord? {
        try await run("SELECT * FROM grants WHERE camera_id = ? AND username = ?", [.text(cameraID), .text(username)]).first.map(Self.grant)
    }

    public func grants(cameraID: String) async throws -> [GrantRecord] {
        try await run("SELECT * FROM grants WHERE camera_id = ? ORDER BY username", [.text(cameraID)]).map(Self.grant)
    }

    public func grants(username: String) async throws -> [GrantRecord] {
        try await run("SELECT * FROM grants WHERE username = ? ORDER BY camera_id", [.text(username)]).map(Self.grant)
    }

    public func deleteGrant(cameraID: String, username: String) async throws -> Bool {
        try await run("DELETE FROM grants WHERE camera_id = ? AND username = ?", [.text(cameraID), .text(username)])
        return try await changes() > 0
    }

    static func grant(_ row: SQLiteRow) -> GrantRecord {
        GrantRecord(cameraID: row.text("camera_id"), username: row.text("username"),
                    role: GrantRole(rawValue: row.text("role")) ?? .viewer, expiresAt: row.double("expires_at"),
                    grantedBy: row.text("granted_by"), createdAt: row.double("created_at") ?? 0)
    }

    // MARK: Videos

    public func insertVideo(_ video: VideoRecord) async throws {
        try await run("""
            INSERT INTO videos (id, camera_id, kind, status, path, start_time, end_time, size, label, created_by, created_at, details)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, Self.binds(video))
    }

    public func updateVideo(_ video: VideoRecord) async throws {
        try await run("""
            UPDATE videos SET camera_id = ?2, kind = ?3, status = ?4, path = ?5, start_time = ?6, end_time = ?7, size = ?8,
                label = ?9, created_by = ?10, created_at = ?11, details = ?12 WHERE id = ?1
            """, Self.binds(video))
    }

    public func video(id: String) async throws -> VideoRecord? {
        try await run("SELECT * FROM videos WHERE id = ?", [.text(id)]).first.map(Self.video)
    }

    public func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int) {
        var conditions: [String] = []
        var binds: [SQLiteData] = []
        if let cameraIDs = query.cameraIDs {
            if cameraIDs.isEmpty { return ([], 0) }
            conditions.append("camera_id IN (\(cameraIDs.map { _ in "?" }.joined(separator: ", ")))")
            binds += cameraIDs.map { .text($0) }
        }
        if let kind = query.kind {
            conditions.append("kind = ?")
            binds.append(.text(kind.rawValue))
        }
        if let createdBy = query.createdBy {
            conditions.append("created_by = ?")
            binds.append(.text(createdBy))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let total = try await run("SELECT COUNT(*) AS count FROM videos \(filter)", binds).first?.column("count")?.integer ?? 0
        let rows = try await run("SELECT * FROM videos \(filter) ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                                 binds + [.integer(query.limit), .integer(query.offset)])
        return (rows.map(Self.video), Int(total))
    }

    public func deleteVideo(id: String) async throws -> Bool {
        try await run("DELETE FROM videos WHERE id = ?", [.text(id)])
        return try await changes() > 0
    }

    public func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int {
        let rows = try await run("SELECT COALESCE(SUM(size), 0) AS bytes FROM videos WHERE created_by = ? AND kind = ?", [.text(createdBy), .text(kind.rawValue)])
        return Int(rows.first?.column("bytes")?.integer ?? 0)
    }

    static func binds(_ video: VideoRecord) -> [SQLiteData] {
        [.text(video.id), video.cameraID.map { .text($0) } ?? .null, .text(video.kind.rawValue), .text(video.status.rawValue),
         .text(video.path), video.start.map { .float($0) } ?? .null, video.end.map { .float($0) } ?? .null,
         .integer(video.size), video.label.map { .text($0) } ?? .null, video.createdBy.map { .text($0) } ?? .null,
         .float(video.createdAt), .text(JSONWriter.string(.object(video.details)))]
    }

    static func video(_ row: SQLiteRow) -> VideoRecord {
        var details = JSONObject()
        if case .object(let object)? = try? JSONParser.parse(row.text("details")) { details = object }
        return VideoRecord(id: row.text("id"), cameraID: row.column("camera_id")?.string,
                           kind: VideoKind(rawValue: row.text("kind")) ?? .clip, status: VideoStatus(rawValue: row.text("status")) ?? .pending,
                           path: row.text("path"), start: row.double("start_time"), end: row.double("end_time"),
                           size: Int(row.column("size")?.integer ?? 0), label: row.column("label")?.string,
                           createdBy: row.column("created_by")?.string, createdAt: row.double("created_at") ?? 0, details: details)
    }
}

extension SQLiteRow {
    func text(_ name: String) -> String { column(name)?.string ?? "" }
    func double(_ name: String) -> Double? {
        guard let data = column(name), !data.isNull else { return nil }
        return data.double
    }
}
