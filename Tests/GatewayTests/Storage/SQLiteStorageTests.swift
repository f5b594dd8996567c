import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import StorageSQLite
import Testing

func sqliteStorage(at path: String = TestMedia.temporaryPath("storage.sqlite")) async throws -> SQLiteStorage {
    let storage = try SQLiteStorage(configuration: .init(path: path), context: testContext("storage"))
    try await storage.migrate()
    return storage
}

@Suite struct SQLiteStorageTests {
    let conformance = StorageConformance { try await sqliteStorage() }


    @Test func migrationsAreVersionedAndApplyOnce() async throws {
        let path = TestMedia.temporaryPath("migrate.sqlite")
        let first = try await sqliteStorage(at: path)
        try await first.insertUser(conformance.user("olivia"))
        try await first.migrate()
        await first.close()
        let second = try await sqliteStorage(at: path)
        #expect(try await second.user(named: "olivia") != nil)
        await second.close()
        // The file records its version: a gateway that knows fewer versions refuses it.
        let versions = try runProgram("/usr/bin/env", ["python3", "-c", """
            import sqlite3; c = sqlite3.connect('\(path)'); print([r[0] for r in c.execute('SELECT version FROM schema_migrations')])
            """])
        #expect(versions.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[1, 2]")
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let path = TestMedia.temporaryPath("newer.sqlite")
        await (try await sqliteStorage(at: path)).close()
        _ = try runProgram("/usr/bin/env", ["python3", "-c", """
            import sqlite3; c = sqlite3.connect('\(path)'); c.execute('INSERT INTO schema_migrations VALUES (99, 0)'); c.commit()
            """])
        let storage = try SQLiteStorage(configuration: .init(path: path), context: testContext("storage"))
        await #expect(throws: StorageError.self) { try await storage.migrate() }
    }
}
