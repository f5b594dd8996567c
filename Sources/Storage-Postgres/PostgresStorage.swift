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
    let pool: PostgresPool
    var client: PostgresClient { pool.client }
    let logger: Logger

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        logger = context.logger
        pool = try PostgresPool(configuration: configuration, component: "storage.postgres", logger: context.logger)
    }

    /// Applies the migrations the database lacks on a connection of its own, under an advisory
    /// lock (a server that cannot be reached fails here, at once and with the reason), then
    /// starts the pool.
    public func migrate() async throws {
        let current = try await bounded("migrate", timeout: max(configuration.queryTimeout, 30)) { [self] _ in
            let connection = try await pool.connect()
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
        pool.start()
        logger.info("storage ready", metadata: ["backend": "postgres", "database": "\(configuration)", "schema_version": "\(current)"])
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

    public func close() async { await pool.close() }

    func bounded<T: Sendable>(_ what: String, timeout: Double? = nil,
                              _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await pool.bounded(what, timeout: timeout, body)
    }
}
