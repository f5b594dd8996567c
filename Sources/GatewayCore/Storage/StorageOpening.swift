import Logging

/// Options every storage backend accepts beside its own.
public struct StorageOptions: Decodable, Sendable, ConfigPlaceholder {
    /// Seconds to keep retrying (with backoff) a backend that cannot be reached at start, instead
    /// of exiting at once. Default 0: one attempt.
    public var waitForSeconds = 0.0

    enum CodingKeys: String, CodingKey { case waitForSeconds = "wait_for_seconds" }

    public init() {}
    public static var configPlaceholder: StorageOptions { StorageOptions() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        waitForSeconds = try container.decodeIfPresent(Double.self, forKey: .waitForSeconds) ?? waitForSeconds
        try decoder.requireRange(waitForSeconds, 0...86_400, CodingKeys.waitForSeconds)
    }
}

/// Builds and migrates the storage backend of a configuration: the one way the server and the
/// `gateway storage` commands open storage.
public enum StorageOpening {
    /// The default backend when plugins.json names none.
    public static let defaultSpec = PluginSpec(kind: .storage, type: "sqlite", configuration: nil, path: "storage")

    /// The backend `spec` names, migrated. A backend that is unavailable is retried with backoff
    /// for `wait_for_seconds`, with a warning per attempt; then its error is thrown.
    public static func open(_ spec: PluginSpec, registry: PluginRegistry, context: PluginContext) async throws -> any StorageBackend {
        guard let storage = try registry.buildStorage(spec, context: context) else {
            throw ConfigErrors([ConfigProblem(path: "storage.type", reason: "storage backend '\(spec.type)' is not available in this build")])
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(spec.storageOptions.waitForSeconds * 1000))
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(10))
        var random = SystemRandomNumberGenerator()
        while true {
            do {
                try await storage.migrate()
                return storage
            } catch let error as StorageError where error.code == .unavailable && ContinuousClock.now < deadline {
                let delay = min(backoff.nextDelay(using: &random), deadline - ContinuousClock.now)
                context.logger.warning("storage unavailable; retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
            } catch {
                await storage.close()
                throw error
            }
        }
    }
}
