import GatewayCore
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The PostgreSQL storage backend (`type: "postgres"`) on postgres-nio's pooled client: several
/// gateways can share one database. Every request waits at most `query_timeout_seconds` for the
/// database, then fails as `unavailable` (503): while the server is down requests fail fast, and
/// the pool reconnects when it is back.
public final class PostgresStorage: StorageAdapter, Sendable {
    public static let type = "postgres"

    let configuration: Configuration
    let client: PostgresClient
    let logger: Logger
    /// TLS settings of the pool's connections and of the migration's own connection.
    private let tlsSettings: TLSConfiguration?
    private let running = Mutex<Task<Void, Never>?>(nil)

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        logger = context.logger
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
        // is away; the requests that fail are logged (warning) by the server instead.
        var poolLogger = context.logger
        poolLogger.logLevel = max(poolLogger.logLevel, .warning)
        client = PostgresClient(configuration: settings, backgroundLogger: poolLogger)
    }

    /// Connecting may take the request's whole budget, but no more than 10 s.
    static func connectMilliseconds(_ configuration: Configuration) -> Int64 {
        Int64(min(configuration.queryTimeout, 10) * 1000)
    }

    /// Applies the migrations the database lacks on a connection of its own, under an advisory
    /// lock (a server that cannot be reached fails here, at once and with the reason), then
    /// starts the pool.
    public func migrate() async throws {
        let current = try await bounded("migrate", timeout: max(configuration.queryTimeout, 30)) { [self] _ in
            let connection = try await PostgresConnection.connect(configuration: connectionConfiguration(), id: 0, logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
                let version = try await applyMigrations(on: connection)
                try await connection.close()
                return version
            } catch {
                // Closing the session gives the lock back.
                try? await connection.close()
                throw error
            }
        }
        running.withLock { task in
            if task == nil { task = Task { [client] in await client.run() } }
        }
        logger.info("storage ready", metadata: ["backend": "postgres", "database": "\(configuration)", "schema_version": "\(current)"])
    }

    private func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch (configuration.tls, tlsSettings) {
        case (.require, let settings?): .require(try NIOSSLContext(configuration: settings))
        case (.prefer, let settings?): .prefer(try NIOSSLContext(configuration: settings))
        default: .disable
        }
        var settings = PostgresConnection.Configuration(host: configuration.host, port: configuration.port, username: configuration.username,
                                                        password: configuration.password, database: configuration.database, tls: tls)
        settings.options.connectTimeout = .milliseconds(Self.connectMilliseconds(configuration))
        return settings
    }

    private func applyMigrations(on connection: PostgresConnection) async throws -> Int {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS gateway_schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
            """, logger: logger)
        var current = 0
        for try await version in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM gateway_schema_migrations",
                                                             logger: logger).decode(Int.self) {
            current = version
        }
        guard current <= Self.migrations.count else {
            throw StorageError(.corrupt, component: "storage.postgres",
                               "\(configuration) has schema version \(current), newer than this gateway knows (\(Self.migrations.count))")
        }
        for (index, statements) in Self.migrations.enumerated() where index + 1 > current {
            try await connection.withTransaction(logger: logger) { connection in
                for statement in statements { try await connection.query(statement, logger: logger) }
                try await connection.query("INSERT INTO gateway_schema_migrations (version, applied_at) VALUES (\(index + 1), \(WallClock.now()))",
                                           logger: logger)
            }
            logger.info("storage schema migrated", metadata: ["version": "\(index + 1)", "database": "\(configuration)"])
        }
        return max(current, Self.migrations.count)
    }

    public func close() async {
        guard let task = running.withLock({ task in defer { task = nil }; return task }) else { return }
        task.cancel()
        await task.value
    }

    /// Runs `body` against the pool within `timeout` (default `query_timeout_seconds`), mapping
    /// the database's errors to `StorageError`: unique violations are conflicts, foreign-key
    /// violations missing references, and everything else (down, slow, refused) unavailable.
    func bounded<T: Sendable>(_ what: String, timeout: Double? = nil,
                              _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let seconds = timeout ?? configuration.queryTimeout
        let client = client
        let address = "\(configuration)"
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await body(client) }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                    throw StorageError(.unavailable, component: "storage.postgres", "\(address) did not answer within \(seconds) s (\(what))")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let error as StorageError {
            throw error
        } catch let error as PSQLError {
            throw Self.storageError(error, address: address)
        } catch is CancellationError {
            throw StorageError(.unavailable, component: "storage.postgres", "cancelled (\(what))")
        } catch {
            throw StorageError(.unavailable, component: "storage.postgres", "\(address): \(error)")
        }
    }

    static func storageError(_ error: PSQLError, address: String) -> StorageError {
        guard let server = error.serverInfo else {
            let reason = error.underlying.map { "\($0)" } ?? "\(error.code)"
            return StorageError(.unavailable, component: "storage.postgres", "cannot reach \(address): \(reason)")
        }
        let state = server[.sqlState] ?? ""
        let message = server[.message] ?? "error \(state)"
        switch state {
        case "23505": return StorageError(.conflict, component: "storage.postgres", "already exists")
        case "23503": return StorageError(.missingReference, component: "storage.postgres", "refers to something that does not exist")
        // Class 22, data exceptions: the value, not the database, is the problem.
        case _ where state.hasPrefix("22"): return StorageError(.invalidValue, component: "storage.postgres", message)
        default: return StorageError(.unavailable, component: "storage.postgres", "\(address): \(message) (\(state))")
        }
    }
}
