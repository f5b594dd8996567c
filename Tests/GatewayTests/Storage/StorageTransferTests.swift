import GatewayCore
import JSON
import Testing

/// `gateway storage migrate`'s copy between any two backends: everything arrives, equal; a second
/// run copies nothing; a user whose name the target has keeps the target's account.
@Suite struct StorageTransferTests {
    let records = StorageConformance { try await sqliteStorage() }

    func fill(_ storage: any StorageBackend) async throws {
        for name in ["olivia", "victor", "Zoë"] { try await storage.insertUser(records.user(name)) }
        for id in ["door", "yard"] { try await storage.upsertCamera(records.camera(id)) }
        try await storage.putGrant(GrantRecord(cameraID: "door", username: "victor", role: .operator, expiresAt: 1_900_000_000.5,
                                               grantedBy: "olivia", createdAt: 3))
        for index in 0..<450 {
            try await storage.insertVideo(VideoRecord(id: "v\(index)", cameraID: index % 2 == 0 ? "door" : nil, kind: .clip, status: .ready,
                                                      path: "/v/\(index).mp4", start: Double(index), end: Double(index) + 4, size: index,
                                                      label: nil, createdBy: "olivia", createdAt: Double(index), details: JSONObject()))
        }
    }

    @Test(arguments: [(StorageConformanceTests.Backend.sqlite, StorageConformanceTests.Backend.postgres),
                      (.postgres, .mongodb), (.mongodb, .sqlite)])
    func everythingArrivesOnceAndEqual(_ from: StorageConformanceTests.Backend, _ to: StorageConformanceTests.Backend) async throws {
        let source = try await from.make(), target = try await to.make()
        try await fill(source)
        // The target already has an account named olivia (its own admin, say): it stays.
        let theirs = UserRecord(id: "theirs", username: "olivia", passwordHash: "$2b$04$theirs", role: .admin, createdAt: 1)
        try await target.insertUser(theirs)
        let first = try await StorageTransfer.copy(from: source, to: target)
        #expect(first.users == .init(copied: 2, present: 1))
        #expect(first.cameras == .init(copied: 2, present: 0))
        #expect(first.grants == .init(copied: 1, present: 0))
        #expect(first.videos == .init(copied: 450, present: 0))
        #expect(try await target.user(named: "olivia") == theirs)
        #expect(try await target.user(named: "Zoë") == records.user("Zoë"))
        #expect(try await target.cameras() == source.cameras())
        #expect(try await target.grants(username: "victor") == source.grants(username: "victor"))
        let all = VideoQuery(offset: 0, limit: 1000)
        #expect(try await target.videos(all).videos == source.videos(all).videos)
        let again = try await StorageTransfer.copy(from: source, to: target)
        #expect(again.users.copied + again.cameras.copied + again.grants.copied + again.videos.copied == 0)
        #expect(again.videos.present == 450)
        await source.close()
        await target.close()
    }
}
