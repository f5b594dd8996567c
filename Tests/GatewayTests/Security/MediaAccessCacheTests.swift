@testable import Gateway
import GatewayCore
import JSON
import Synchronization
import Testing

/// The access decisions media requests reuse: kept for a second at most, never past a grant's
/// expiry, dropped at once by a local change that may take access away, bounded in number.
@Suite struct MediaAccessCacheTests {
    let principal = Principal(userID: "u1", username: "victor", role: .user)
    let camera = CameraRecord(id: "door", name: "Door", owner: "olivia", source: .object(JSONObject([("type", .string("rtsp"))])),
                              sinks: .array([]), origin: .api, createdAt: 0, updatedAt: 0)

    func decide(_ cache: MediaAccessCache, _ calls: Calls, cameraID: String = "door", principal: Principal? = nil,
                expiresAt: Double? = nil) async throws -> CameraRole {
        try await cache.decision(principal ?? self.principal, cameraID: cameraID, action: .view) {
            calls.add()
            return (MediaAccessCache.Decision(camera: camera, role: .viewer), expiresAt)
        }.role
    }

    @Test func aDecisionIsReusedUntilAChangeOrALifetimePasses() async throws {
        let changes = AccessChanges()
        let cache = MediaAccessCache(changes: changes, lifetime: .milliseconds(300))
        let calls = Calls()
        #expect(try await decide(cache, calls) == .viewer)
        #expect(try await decide(cache, calls) == .viewer)
        #expect(calls.count == 1)
        // Someone else, another camera: decided on their own.
        _ = try await decide(cache, calls, principal: Principal(userID: "u2", username: "sam", role: .user))
        _ = try await decide(cache, calls, cameraID: "yard")
        #expect(calls.count == 3)
        // A grant revoked (or a camera deleted, a config reloaded) here: decided again at once.
        changes.notify()
        _ = try await decide(cache, calls)
        #expect(calls.count == 4)
        // A change made elsewhere is seen within the lifetime.
        try await Task.sleep(for: .milliseconds(350))
        _ = try await decide(cache, calls)
        #expect(calls.count == 5)
    }

    @Test func refusalsAreNotKeptNorDecisionsPastTheGrantsExpiry() async throws {
        let cache = MediaAccessCache(changes: AccessChanges())
        let calls = Calls()
        for _ in 0..<2 {
            await #expect(throws: GatewayError.self) {
                try await cache.decision(principal, cameraID: "door", action: .view) {
                    calls.add()
                    throw GatewayError.notFound("camera 'door' not found")
                }
            }
        }
        #expect(calls.count == 2)
        // The grant runs out in 0.1 s: the decision is not reused after that.
        _ = try await decide(cache, calls, expiresAt: WallClock.now() + 0.1)
        _ = try await decide(cache, calls, expiresAt: WallClock.now() + 0.1)
        #expect(calls.count == 3)
        try await Task.sleep(for: .milliseconds(150))
        _ = try await decide(cache, calls, expiresAt: WallClock.now() - 1)
        _ = try await decide(cache, calls, expiresAt: WallClock.now() - 1)
        #expect(calls.count == 5, "an expired grant's decision is never kept")
    }

    @Test func aDecisionMadeWhileAccessChangedIsNotKept() async throws {
        let changes = AccessChanges()
        let cache = MediaAccessCache(changes: changes)
        let calls = Calls()
        _ = try await cache.decision(principal, cameraID: "door", action: .view) {
            calls.add()
            changes.notify()  // a revocation lands while storage is read
            return (MediaAccessCache.Decision(camera: camera, role: .viewer), nil)
        }
        _ = try await decide(cache, calls)
        #expect(calls.count == 2)
    }

    @Test func streamTokenPrincipalsAreKeptPerTokenAndCamera() async throws {
        let cache = MediaAccessCache(changes: AccessChanges(), capacity: 4)
        let calls = Calls()
        func principal(_ token: String, _ camera: String) async throws -> Principal {
            try await cache.principal(streamToken: token, subject: camera) {
                calls.add()
                return self.principal
            }
        }
        _ = try await principal("t1", "door")
        _ = try await principal("t1", "door")
        _ = try await principal("t1", "yard")
        #expect(calls.count == 2)
        // Bounded: past its capacity the cache starts over rather than grow.
        for index in 0..<10 { _ = try await principal("t\(index + 2)", "door") }
        _ = try await principal("t1", "door")
        #expect(calls.count == 13)
    }
}

/// How many times a decision was made.
final class Calls: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
