import GatewayCore
import Logging
import SQLiteNIO

/// The embedded storage backend (`type: "sqlite"`): one SQLite file, one connection, queries
/// serialized by the actor.
public actor SQLiteStorage: StorageAdapter {
    public static let type = "sqlite"

    public let path: String
    private let logger: Logger
    private var connection: SQLiteConnection?
    /// After `close()`, a late query (a sink finishing after shutdown) fails instead of
    /// reopening the file.
    private var closed = false

    public init(configuration: Configuration, context: PluginContext) throws {
        path = configuration.path ?? context.dataDirectory + "/gateway.sqlite"
        logger = context.logger
        try FileIO.makeDirectory(FileIO.directory(of: path))
    }

    /// Opens the file and applies the migrations it lacks; on failure the file is closed again.
    public func migrate() async throws {
        do {
            try await applyMigrations()
        } catch {
            await close()
            throw error
        }
    }

    private func applyMigrations() async throws {
        let connection = try await open()
        for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL", "PRAGMA busy_timeout = 5000"] {
            _ = try await connection.query(pragma)
        }
        _ = try await connection.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        let current = try await connection.query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations")
            .first?.column("version")?.integer ?? 0
        guard current <= Self.migrations.count else {
            throw StorageError(.corrupt, component: "storage.sqlite", "\(path) has schema version \(current), newer than this gateway knows (\(Self.migrations.count))")
        }
        for (index, statements) in Self.migrations.enumerated() where index + 1 > current {
            try await transaction(connection) {
                for statement in statements { _ = try await connection.query(statement) }
                _ = try await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                               [.integer(index + 1), .float(WallClock.now())])
            }
            logger.info("storage schema migrated", metadata: ["version": "\(index + 1)", "path": "\(path)"])
        }
    }

    public func close() async {
        closed = true
        guard let connection else { return }
        self.connection = nil
        // Closing happens at shutdown, often from a cancelled task; SQLiteNIO would refuse it
        // there and then trap when the open connection is released.
        await Task { try? await connection.close() }.value
    }

    private func open() async throws -> SQLiteConnection {
        if let connection { return connection }
        guard !closed else { throw StorageError(.unavailable, component: "storage.sqlite", "the storage is closed") }
        do {
            let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            self.connection = connection
            return connection
        } catch {
            throw StorageError(.unavailable, component: "storage.sqlite", "cannot open \(path): \(error)")
        }
    }

    private func transaction(_ connection: SQLiteConnection, _ body: () async throws -> Void) async throws {
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            try await body()
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    /// Runs one statement, mapping SQLite's constraint errors to `StorageError`.
    @discardableResult
    func run(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        // SQLite would store a NUL character but give the text back cut at it: refuse it, as
        // PostgreSQL does (JSON columns are not affected: the writer escapes it).
        for case .text(let text) in binds where text.utf8.contains(0) {
            throw StorageError(.invalidValue, component: "storage.sqlite", "text cannot contain a NUL character")
        }
        let connection = try await open()
        do {
            return try await connection.query(sql, binds)
        } catch let error as SQLiteError {
            switch error.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                throw StorageError(.conflict, component: "storage.sqlite", "already exists")
            case .constraintForeignKeyFailed:
                throw StorageError(.missingReference, component: "storage.sqlite", "refers to something that does not exist")
            default:
                throw StorageError(.unavailable, component: "storage.sqlite", error.message)
            }
        }
    }

    func changes() async throws -> Int {
        Int(try await run("SELECT changes() AS count").first?.column("count")?.integer ?? 0)
    }
}
