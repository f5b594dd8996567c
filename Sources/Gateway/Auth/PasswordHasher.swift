import HummingbirdBcrypt
import NIOPosix
import GatewayCore

/// bcrypt, run on the thread pool: a hash takes tens of milliseconds by design and must not
/// stall the event loops.
public struct PasswordHasher: Sendable {
    /// bcrypt cost (log2 rounds). 12 in production; tests may lower it.
    public let cost: UInt8
    public static let minimumLength = 8
    public static let maximumLength = 72  // bcrypt ignores what is beyond 72 bytes

    public init(cost: UInt8 = 12) { self.cost = cost }

    public func hash(_ password: String) async throws -> String {
        let cost = cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// Why `password` is not acceptable, or nil: 8 to 72 characters (as JSON Schema counts
    /// them), and no more than 72 bytes in UTF-8 — a rule the schema cannot state, so its
    /// refusal is a 422 rather than a 400.
    public static func problem(with password: String) -> GatewayError? {
        let characters = password.unicodeScalars.count
        if characters < minimumLength { return .badRequest("password must be at least \(minimumLength) characters") }
        if characters > maximumLength { return .badRequest("password must be at most \(maximumLength) characters") }
        if password.utf8.count > maximumLength {
            return GatewayError(.passwordTooLong, "password must be at most \(maximumLength) bytes in UTF-8")
        }
        return nil
    }
}
