import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

/// Every conformance case on every backend: SQLite (a new file), PostgreSQL (a new database on
/// the test server) and MongoDB (a new database on the test server).
@Suite struct StorageConformanceTests {
    enum Backend: String, CaseIterable, Sendable {
        case sqlite, postgres, mongodb

        func make() async throws -> any StorageBackend {
            switch self {
            case .sqlite: try await sqliteStorage()
            case .postgres: try await TestPostgres.storage(try TestPostgres.newDatabase())
            case .mongodb: try await TestMongo.storage()
            }
        }
    }

    enum Case: String, CaseIterable, Sendable { case users, cameras, grants, videos, concurrentWriters, unicodeAndLargeValues }

    @Test(arguments: Backend.allCases, Case.allCases)
    func conformance(_ backend: Backend, _ check: Case) async throws {
        let conformance = StorageConformance { try await backend.make() }
        switch check {
        case .users: try await conformance.users()
        case .cameras: try await conformance.cameras()
        case .grants: try await conformance.grants()
        case .videos: try await conformance.videos()
        case .concurrentWriters: try await conformance.concurrentWriters()
        case .unicodeAndLargeValues: try await conformance.unicodeAndLargeValues()
        }
    }
}

/// What every storage backend must do. A backend's test suite calls each case with a fresh,
/// migrated, empty backend (SQLite today; Postgres and MongoDB run the same cases).
struct StorageConformance {
    let make: @Sendable () async throws -> any StorageBackend

    func user(_ name: String, role: UserRole = .user) -> UserRecord {
        UserRecord(id: "id-\(name)", username: name, passwordHash: "$2b$04$hash-of-\(name)", role: role, createdAt: 1_700_000_000)
    }

    func camera(_ id: String, owner: String? = "olivia") -> CameraRecord {
        CameraRecord(id: id, name: "Camera \(id)", owner: owner,
                     source: .object(JSONObject([("type", .string("rtsp")), ("url", .string("rtsp://u:p@h/\(id)"))])),
                     sinks: .array([.object(JSONObject([("type", .string("hls"))]))]), origin: .api, createdAt: 10, updatedAt: 20)
    }

    func expectStorageError(_ code: StorageError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)")
        } catch let error as StorageError {
            #expect(error.code == code)
        } catch {
            Issue.record("expected StorageError \(code), got \(error)")
        }
    }

    func users() async throws {
        let storage = try await make()
        try await storage.insertUser(user("olivia"))
        try await storage.insertUser(user("admin", role: .admin))
        #expect(try await storage.user(named: "olivia") == user("olivia"))
        #expect(try await storage.user(id: "id-admin")?.role == .admin)
        #expect(try await storage.user(named: "nobody") == nil)
        #expect(try await storage.users().map(\.username) == ["admin", "olivia"])
        await expectStorageError(.conflict) { try await storage.insertUser(UserRecord(id: "other", username: "olivia", passwordHash: "x", role: .user, createdAt: 0)) }
        try await storage.updatePasswordHash(username: "olivia", hash: "$2b$04$new")
        #expect(try await storage.user(named: "olivia")?.passwordHash == "$2b$04$new")
        #expect(try await storage.updateUserRole(username: "olivia", role: .admin))
        #expect(try await storage.user(named: "olivia")?.role == .admin)
        #expect(try await storage.updateUserRole(username: "olivia", role: .admin))
        #expect(try await storage.updateUserRole(username: "nobody", role: .admin) == false)
        try await #require(storage.updateUserRole(username: "olivia", role: .user))
        #expect(try await storage.user(id: "id-olivia")?.role == .user)
        await storage.close()
    }

    func cameras() async throws {
        let storage = try await make()
        try await storage.insertUser(user("olivia"))
        try await storage.upsertCamera(camera("a"))
        try await storage.upsertCamera(camera("b", owner: nil))
        #expect(try await storage.camera(id: "a") == camera("a"))
        #expect(try await storage.camera(id: "b")?.owner == nil)
        var changed = camera("a")
        changed.name = "Renamed"
        changed.sinks = .array([])
        changed.updatedAt = 30
        try await storage.upsertCamera(changed)
        #expect(try await storage.camera(id: "a") == changed)
        #expect(try await storage.cameras().map(\.id) == ["a", "b"])
        #expect(try await storage.deleteCamera(id: "b"))
        #expect(try await !storage.deleteCamera(id: "b"))
        #expect(try await storage.camera(id: "b") == nil)
        await storage.close()
    }

    func grants() async throws {
        let storage = try await make()
        for name in ["olivia", "victor", "oscar"] { try await storage.insertUser(user(name)) }
        try await storage.upsertCamera(camera("a"))
        try await storage.upsertCamera(camera("b"))
        let viewer = GrantRecord(cameraID: "a", username: "victor", role: .viewer, expiresAt: nil, grantedBy: "olivia", createdAt: 5)
        let timed = GrantRecord(cameraID: "b", username: "victor", role: .operator, expiresAt: 1_800_000_000.5, grantedBy: "olivia", createdAt: 6)
        try await storage.putGrant(viewer)
        try await storage.putGrant(timed)
        try await storage.putGrant(GrantRecord(cameraID: "a", username: "oscar", role: .operator, expiresAt: nil, grantedBy: "olivia", createdAt: 7))
        #expect(try await storage.grant(cameraID: "a", username: "victor") == viewer)
        #expect(try await storage.grant(cameraID: "b", username: "victor") == timed)
        #expect(try await storage.grants(cameraID: "a").map(\.username) == ["oscar", "victor"])
        #expect(try await storage.grants(username: "victor").map(\.cameraID) == ["a", "b"])
        var promoted = viewer
        promoted.role = .operator
        try await storage.putGrant(promoted)
        #expect(try await storage.grant(cameraID: "a", username: "victor")?.role == .operator)
        #expect(try await storage.deleteGrant(cameraID: "a", username: "oscar"))
        #expect(try await !storage.deleteGrant(cameraID: "a", username: "oscar"))
        await expectStorageError(.missingReference) {
            try await storage.putGrant(GrantRecord(cameraID: "nope", username: "victor", role: .viewer, expiresAt: nil, grantedBy: "o", createdAt: 0))
        }
        await expectStorageError(.missingReference) {
            try await storage.putGrant(GrantRecord(cameraID: "a", username: "ghost", role: .viewer, expiresAt: nil, grantedBy: "o", createdAt: 0))
        }
        // Deleting a camera takes its grants with it.
        #expect(try await storage.deleteCamera(id: "a"))
        #expect(try await storage.grants(username: "victor").map(\.cameraID) == ["b"])
        await storage.close()
    }

    func videos() async throws {
        let storage = try await make()
        try await storage.upsertCamera(camera("a", owner: nil))
        func video(_ id: String, camera: String?, kind: VideoKind, at time: Double) -> VideoRecord {
            VideoRecord(id: id, cameraID: camera, kind: kind, status: .ready, path: "/v/\(id).mp4", start: time - 60, end: time,
                        size: 1000, label: "l-\(id)", createdBy: "olivia", createdAt: time,
                        details: JSONObject([("pre_seconds", .int(30)), ("codec", .string("h264"))]))
        }
        let clips = (0..<5).map { video("c\($0)", camera: "a", kind: .clip, at: Double(100 + $0)) }
        for clip in clips { try await storage.insertVideo(clip) }
        try await storage.insertVideo(video("r0", camera: "a", kind: .recording, at: 50))
        try await storage.insertVideo(video("u0", camera: nil, kind: .upload, at: 200))
        await expectStorageError(.conflict) { try await storage.insertVideo(clips[0]) }
        #expect(try await storage.video(id: "c2") == clips[2])
        #expect(try await storage.video(id: "c2")?.duration == 60)

        let page = try await storage.videos(VideoQuery(cameraIDs: ["a"], kind: .clip, offset: 1, limit: 2))
        #expect(page.total == 5)
        #expect(page.videos.map(\.id) == ["c3", "c2"])
        #expect(try await storage.videos(VideoQuery()).videos.first?.id == "u0")
        #expect(try await storage.videos(VideoQuery()).total == 7)
        #expect(try await storage.videos(VideoQuery(cameraIDs: [])).total == 0)
        #expect(try await storage.videos(VideoQuery(kind: .recording)).videos.map(\.id) == ["r0"])
        // One user's uploads, and what they weigh.
        var other = video("u1", camera: nil, kind: .upload, at: 210)
        other.createdBy = "victor"
        other.size = 4321
        other.status = .processing
        try await storage.insertVideo(other)
        #expect(try await storage.videos(VideoQuery(kind: .upload, createdBy: "olivia")).videos.map(\.id) == ["u0"])
        #expect(try await storage.videos(VideoQuery(createdBy: "victor")).videos.map(\.id) == ["u1"])
        #expect(try await storage.video(id: "u1")?.status == .processing)
        #expect(try await storage.storedBytes(createdBy: "olivia", kind: .upload) == 1000)
        #expect(try await storage.storedBytes(createdBy: "olivia", kind: .clip) == 5000)
        #expect(try await storage.storedBytes(createdBy: "nobody", kind: .upload) == 0)
        #expect(try await storage.deleteVideo(id: "u1"))

        var updated = clips[0]
        updated.status = .failed
        updated.size = 5
        updated.details["error"] = .string("disk full")
        try await storage.updateVideo(updated)
        #expect(try await storage.video(id: "c0") == updated)
        #expect(try await storage.deleteVideo(id: "c0"))
        #expect(try await !storage.deleteVideo(id: "c0"))
        #expect(try await storage.video(id: "c0") == nil)
        await storage.close()
    }

    /// Writers at once: distinct rows all land; a contested unique key is won once, the rest
    /// are conflicts; concurrent upserts of one camera leave one camera.
    func concurrentWriters() async throws {
        let storage = try await make()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 { group.addTask { try await storage.insertUser(user("writer\(index)")) } }
            try await group.waitForAll()
        }
        #expect(try await storage.users().count == 20)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<10 {
                group.addTask {
                    do {
                        try await storage.insertUser(UserRecord(id: "contested-\(index)", username: "contested", passwordHash: "x", role: .user, createdAt: 0))
                        return true
                    } catch let error as StorageError {
                        #expect(error.code == .conflict)
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        try await storage.upsertCamera(camera("g", owner: "writer0"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<10 {
                group.addTask {
                    var record = camera("shared", owner: "writer0")
                    record.name = "name \(index)"
                    try await storage.upsertCamera(record)
                }
                group.addTask {
                    try await storage.putGrant(GrantRecord(cameraID: "g", username: "writer\(index)", role: .viewer, expiresAt: nil,
                                                           grantedBy: "writer0", createdAt: Double(index)))
                }
            }
            try await group.waitForAll()
        }
        #expect(try await storage.grants(cameraID: "g").count == 10)
        #expect(try await storage.cameras().filter { $0.id == "shared" }.count == 1)
        #expect(try await storage.camera(id: "shared")?.name.hasPrefix("name ") == true)
        await storage.close()
    }

    /// Text is kept byte for byte (any script, emoji, quotes, a megabyte), and lists sort by
    /// bytes whatever the backend's locale.
    func unicodeAndLargeValues() async throws {
        let storage = try await make()
        let names = ["Zoë", "abc", "zed", "Ábc", "東京", "🎥cam", "o'brien\"; DROP TABLE users; --"]
        for name in names { try await storage.insertUser(user(name)) }
        #expect(try await storage.users().map(\.username) == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try await storage.user(named: "東京")?.username == "東京")
        #expect(try await storage.user(named: "zoë") == nil)
        var big = camera("big-📷", owner: "Zoë")
        big.name = "Entrée — 入口 🎥 'quoted' \"double\" \\ back"
        big.source = .object(JSONObject([("type", .string("rtsp")), ("url", .string("rtsp://h/s")),
                                         ("note", .string(String(repeating: "é", count: 512 * 1024))), ("ключ", .int(Int(Int32.max) * 4))]))
        try await storage.upsertCamera(big)
        #expect(try await storage.camera(id: "big-📷") == big)
        let video = VideoRecord(id: "v-ü", cameraID: "big-📷", kind: .upload, status: .ready, path: "/data/vidéo 1.mp4", start: nil, end: nil,
                                size: 1 << 40, label: "🎬", createdBy: "Zoë", createdAt: 1_700_000_000.125,
                                details: JSONObject([("nested", .object(JSONObject([("ä", .array([.null, .bool(true), .double(0.5)]))])))]))
        try await storage.insertVideo(video)
        #expect(try await storage.video(id: "v-ü") == video)
        // A NUL character is stored exactly, or refused as an invalid value (PostgreSQL's text
        // cannot hold one) — never a failure that looks like the storage being away.
        var odd = camera("nul", owner: "Zoë")
        odd.name = "before\u{0}after"
        do {
            try await storage.upsertCamera(odd)
            #expect(try await storage.camera(id: "nul") == odd)
        } catch let error as StorageError {
            #expect(error.code == .invalidValue, "\(error)")
        }
        // Not found is nil or false, never an error.
        #expect(try await storage.user(id: "missing") == nil)
        #expect(try await storage.camera(id: "missing") == nil)
        #expect(try await storage.grant(cameraID: "big-📷", username: "abc") == nil)
        #expect(try await storage.video(id: "missing") == nil)
        #expect(try await storage.grants(cameraID: "missing").isEmpty)
        #expect(try await storage.videos(VideoQuery(cameraIDs: ["missing"])).total == 0)
        await storage.close()
    }
}
