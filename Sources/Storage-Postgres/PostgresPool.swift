import GatewayCore
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// A postgres-nio pool to one database, as `PostgresStorage.Configuration` describes it (URL,
/// TLS, pool size, timeout): what the storage backend and the analytics event backend share.
public final class PostgresPool: Sendable {
    public let configuration: PostgresStorage.Configuration
    public let client: PostgresClient
    /// The name errors carry (`storage.postgres`, `events.postgres`).
    let component: String
    let logger: Logger
    /// TLS settings of the pool's connections and of connections of their own (migrations).
    private let tlsSettings: TLSConfiguration?
    private let running = Mutex<Task<Void, Never>?>(nil)

    public init(configuration: PostgresStorage.Configuration, component: String, logger: Logger) throws {
        self.configuration = configuration
        self.component = component
        self.logger = logger
        var tlsSettings: TLSConfiguration?
        if configuration.tls != .disable {
            var settings = TLSConfiguration.makeClientConfiguration()
            if let caFile = configuration.caFile {
                settings.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } else if configuration.tls == .prefer {
                // Opportunistic, as libpq's `prefer`: whatever certificate the server has.
                settings.certificateVerification = .none
            }
            tlsSettings = settings
        }
        self.tlsSettings = tlsSettings
        let tls: PostgresClient.Configuration.TLS = switch (configuration.tls, tlsSettings) {
        case (.require, let settings?): .require(settings)
        case (.prefer, let settings?): .prefer(settings)
        default: .disable
        }
        var settings = PostgresClient.Configuration(host: configuration.host, port: configuration.port, username: configuration.username,
                                                    password: configuration.password, database: configuration.database, tls: tls)
        settings.options.maximumConnections = configuration.poolSize
        settings.options.connectTimeout = .milliseconds(Self.connectMilliseconds(configuration))
        settings.options.keepAliveBehavior = .init(frequency: .seconds(30))
        // The pool logs each failed connection attempt at info, several a second while the server
        // is away; the requests that fail are logged (warning) by their callers instead.
        var poolLogger = logger
        poolLogger.logLevel = max(poolLogger.logLevel, .warning)
        client = PostgresClient(configuration: settings, backgroundLogger: poolLogger)
    }

    /// Connecting may take the request's whole budget, but no more than 10 s.
    static func connectMilliseconds(_ configuration: PostgresStorage.Configuration) -> Int64 {
        Int64(min(configuration.queryTimeout, 10) * 1000)
    }

    /// Starts the pool's connections (once).
    public func start() {
        running.withLock { task in
            if task == nil { task = Task { [client] in await client.run() } }
        }
    }

    public func close() async {
        guard let task = running.withLock({ task in defer { task = nil }; return task }) else { return }
        task.cancel()
        await task.value
    }

    /// A connection of its own, outside the pool (for session-level advisory locks); close it.
    public func connect() async throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS = switch (configuration.tls, tlsSettings) {
        case (.require, let settings?): .require(try NIOSSLContext(configuration: settings))
        case (.prefer, let settings?): .prefer(try NIOSSLContext(configuration: settings))
        default: .disable
        }
        var settings = PostgresConnection.Configuration(host: configuration.host, port: configuration.port, username: configuration.username,
                                                        password: configuration.password, database: configuration.database, tls: tls)
        settings.options.connectTimeout = .milliseconds(Self.connectMilliseconds(configuration))
        return try await PostgresConnection.connect(configuration: settings, id: 0, logger: logger)
    }

    /// Runs `body` against the pool within `timeout` (default `query_timeout_seconds`), mapping
    /// the database's errors to `StorageError`: unique violations are conflicts, foreign-key
    /// violations missing references, data exceptions invalid values, and everything else
    /// (down, slow, refused) unavailable.
    public func bounded<T: Sendable>(_ what: String, timeout: Double? = nil,
                                     _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let seconds = timeout ?? configuration.queryTimeout
        let client = client
        let address = "\(configuration)"
        let component = component
        do {
            // Answered at the deadline even when a request on a vanished connection never ends.
            return try await Deadline.run(seconds: seconds, timeout: {
                StorageError(.unavailable, component: component, "\(address) did not answer within \(seconds) s (\(what))")
            }) { try await body(client) }
        } catch let error as StorageError {
            throw error
        } catch let error as PSQLError {
            throw Self.storageError(error, address: address, component: component)
        } catch is CancellationError {
            throw StorageError(.unavailable, component: component, "cancelled (\(what))")
        } catch {
            throw StorageError(.unavailable, component: component, "\(address): \(error)")
        }
    }

    static func storageError(_ error: PSQLError, address: String, component: String) -> StorageError {
        guard let server = error.serverInfo else {
            let reason = error.underlying.map { "\($0)" } ?? "\(error.code)"
            return StorageError(.unavailable, component: component, "cannot reach \(address): \(reason)")
        }
        let state = server[.sqlState] ?? ""
        let message = server[.message] ?? "error \(state)"
        switch state {
        case "23505": return StorageError(.conflict, component: component, "already exists")
        case "23503": return StorageError(.missingReference, component: component, "refers to something that does not exist")
        // Class 22, data exceptions: the value, not the database, is the problem.
        case _ where state.hasPrefix("22"): return StorageError(.invalidValue, component: component, message)
        default: return StorageError(.unavailable, component: component, "\(address): \(message) (\(state))")
        }
    }
}
