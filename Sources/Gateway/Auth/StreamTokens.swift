import Synchronization
import GatewayCore

/// Camera-scoped stream tokens with a sliding expiry: a token lives `idle` seconds after it
/// was issued or last used, so a player that keeps reloading its playlist keeps watching, and
/// one that stopped must get a new URL. One token per user and camera while it lives, so the
/// URIs in a playlist stay the same from reload to reload (players key init segments by URI).
public final class StreamTokens: Sendable {
    private struct Entry { var token: String; var id: String; var lastUsed: Double }
    private let tokens: TokenService
    private let idle: Double
    private let entries = Mutex<[String: Entry]>([:])

    /// Seconds a token lives after its last use.
    public var idleSeconds: Int { Int(idle) }

    public init(tokens: TokenService, idle: Double) {
        self.tokens = tokens
        self.idle = idle
    }

    private static func key(_ userID: String, _ cameraID: String) -> String { userID + "\u{0}" + cameraID }

    /// The live token of this user for this camera, or a new one.
    public func token(userID: String, cameraID: String) async throws -> String {
        let now = WallClock.now()
        let key = Self.key(userID, cameraID)
        if let live = entries.withLock({ entries -> String? in
            guard var entry = entries[key], now - entry.lastUsed < idle else { return nil }
            entry.lastUsed = now
            entries[key] = entry
            return entry.token
        }) {
            return live
        }
        let id = Identifier.make()
        let token = try await tokens.signStreamToken(userID: userID, cameraID: cameraID, id: id)
        entries.withLock { entries in
            entries = entries.filter { now - $0.value.lastUsed < idle }
            entries[key] = Entry(token: token, id: id, lastUsed: now)
        }
        return token
    }

    /// The live token of this user for this camera, if there is one — without making one or
    /// extending its life (`token` does both).
    public func liveToken(userID: String, cameraID: String) -> String? {
        let now = WallClock.now()
        return entries.withLock { entries in
            guard let entry = entries[Self.key(userID, cameraID)], now - entry.lastUsed < idle else { return nil }
            return entry.token
        }
    }

    /// The user and camera of a live token; using it extends its life.
    public func verify(_ token: String) async throws(TokenRejection) -> (userID: String, cameraID: String) {
        let claims = try await tokens.verifyStreamToken(token)
        let now = WallClock.now()
        let alive = entries.withLock { entries -> Bool in
            let key = Self.key(claims.userID, claims.cameraID)
            if var entry = entries[key], entry.id == claims.id, now - entry.lastUsed < idle {
                entry.lastUsed = now
                entries[key] = entry
                return true
            }
            // Not known here (another instance, a restart): its issue time alone decides.
            if entries[key]?.id != claims.id, now - claims.issuedAt < idle {
                entries[key] = Entry(token: token, id: claims.id, lastUsed: now)
                return true
            }
            return false
        }
        guard alive else { throw TokenRejection("stream token has expired; get a new stream URL") }
        return (claims.userID, claims.cameraID)
    }
}
