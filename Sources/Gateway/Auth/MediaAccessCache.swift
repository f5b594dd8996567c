import Synchronization
import GatewayCore

/// Recent answers to the two questions every media request asks — whose stream token is this,
/// and may they see this camera — so that a player fetching a part every 0.2 s (and thousands
/// of players at once) does not verify a JWT and query storage each time.
///
/// Only positive answers are kept, each for at most `lifetime` (1 s: the same bound within which
/// an open stream notices a change made by another process), never past the grant's own expiry,
/// and none survives a local change that may take access away (`AccessChanges`: a revoked
/// grant, a deleted or given-away camera, a config reload, a cache invalidation from another
/// node). Bounded: past `capacity` entries, the expired ones go, then all.
public final class MediaAccessCache: Sendable {
    private struct Entry<Value: Sendable>: Sendable {
        let value: Value
        let generation: Int
        let expires: Int64
    }

    private let changes: AccessChanges
    private let lifetime: Int64
    private let capacity: Int
    private let principals = Mutex<[String: Entry<Principal>]>([:])
    private let decisions = Mutex<[String: Entry<Decision>]>([:])

    public struct Decision: Sendable {
        public let camera: CameraRecord
        public let role: CameraRole
    }

    public init(changes: AccessChanges, lifetime: Duration = .seconds(1), capacity: Int = 20_000) {
        self.changes = changes
        let (seconds, attoseconds) = lifetime.components
        self.lifetime = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        self.capacity = capacity
    }

    /// The principal of a stream token for `subject`, from `verify` unless known recently.
    func principal(streamToken token: String, subject: String, verify: () async throws -> Principal) async throws -> Principal {
        let key = token + "\u{0}" + subject
        if let known = lookup(principals, key) { return known }
        let generation = changes.generation
        let principal = try await verify()
        store(principal, in: principals, key: key, generation: generation, notAfter: nil)
        return principal
    }

    /// The principal of a stream token for `subject` and its decision on camera `subject`,
    /// both known recently — without verifying or deciding anything; nil when either is not.
    func known(streamToken token: String, subject: String, action: CameraAction) -> (Principal, Decision)? {
        guard let principal = lookup(principals, token + "\u{0}" + subject),
              let decision = lookup(decisions, Self.decisionKey(principal, cameraID: subject, action: action)) else { return nil }
        return (principal, decision)
    }

    private static func decisionKey(_ principal: Principal, cameraID: String, action: CameraAction) -> String {
        principal.userID + "\u{0}" + principal.role.rawValue + "\u{0}" + cameraID + "\u{0}" + action.rawValue
    }

    /// `principal`'s access decision on a camera, from `decide` unless made recently.
    /// `decide` returns the decision and when it stops holding by itself (a grant's expiry).
    func decision(_ principal: Principal, cameraID: String, action: CameraAction,
                  decide: () async throws -> (Decision, expiresAt: Double?)) async throws -> Decision {
        let key = Self.decisionKey(principal, cameraID: cameraID, action: action)
        if let known = lookup(decisions, key) { return known }
        let generation = changes.generation
        let (decision, expiresAt) = try await decide()
        store(decision, in: decisions, key: key, generation: generation, notAfter: expiresAt)
        return decision
    }

    private func lookup<Value>(_ table: borrowing Mutex<[String: Entry<Value>]>, _ key: String) -> Value? {
        let now = MonotonicTime.nanoseconds()
        let generation = changes.generation
        return table.withLock { table -> Value? in
            guard let entry = table[key], now < entry.expires, entry.generation == generation else { return nil }
            return entry.value
        }
    }

    private func store<Value>(_ value: Value, in table: borrowing Mutex<[String: Entry<Value>]>, key: String, generation: Int, notAfter: Double?) {
        // A change during the decision: it may already be stale.
        guard changes.generation == generation else { return }
        let now = MonotonicTime.nanoseconds()
        var expires = now + lifetime
        if let notAfter {
            let left = notAfter - WallClock.now()
            guard left > 0 else { return }
            expires = min(expires, now + Int64(min(left, 3600) * 1e9))
        }
        table.withLock { table in
            if table.count >= capacity {
                table = table.filter { now < $0.value.expires }
                if table.count >= capacity { table.removeAll() }
            }
            table[key] = Entry(value: value, generation: generation, expires: expires)
        }
    }
}
