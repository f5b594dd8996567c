import Foundation
import GatewayCore
import JSON
import Logging
import StoragePostgres
import Testing

/// The servers `scripts/test-servers.sh` started (`make test` starts them): a test whose server
/// is missing fails with how to start it, never skips.
enum TestServers {
    static func require(_ variable: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw TestFailure("\(variable) is not set: run `scripts/test-servers.sh start && source .test-servers/env` first (make test does)")
        }
        return value
    }

    /// `storage`'s start fails within `limit` as unavailable, naming `address` and never `secret`.
    static func expectUnreachable(_ storage: any StorageBackend, address: String, secret: String, within limit: Duration) async {
        let started = ContinuousClock.now
        do {
            try await storage.migrate()
            Issue.record("migrate succeeded against a closed port")
        } catch let error as StorageError {
            #expect(error.code == .unavailable)
            #expect(error.description.contains(address), "\(error)")
            #expect(!error.description.contains(secret), "\(error)")
        } catch {
            Issue.record("expected a StorageError, got \(error)")
        }
        #expect(ContinuousClock.now - started < limit)
    }
}

enum TestPostgres {
    /// The URL of a new, empty database on the test server.
    static func newDatabase() throws -> String {
        let base = try TestServers.require("GATEWAY_TEST_POSTGRES_URL")
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try psql(base, "CREATE DATABASE \(name)")
        return base.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }

    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> String {
        let result = try runProgram("/usr/bin/env", ["psql", url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else { throw TestFailure("psql \(sql): \(result.error)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func configuration(_ url: String, options: [(String, JSONValue)] = []) throws -> PostgresStorage.Configuration {
        let decoded = ConfigDecoder.decode(PostgresStorage.Configuration.self, from: .object(JSONObject([("url", .string(url))] + options)))
        guard decoded.problems.isEmpty, let configuration = decoded.value else { throw TestFailure("\(decoded.problems)") }
        return configuration
    }

    static func storage(_ url: String, options: [(String, JSONValue)] = [], migrate: Bool = true) async throws -> PostgresStorage {
        let storage = try PostgresStorage(configuration: configuration(url, options: options), context: testContext("postgres"))
        if migrate { try await storage.migrate() }
        return storage
    }
}

@Suite struct PostgresStorageTests {
    let conformance = StorageConformance { try await TestPostgres.storage(try TestPostgres.newDatabase()) }


    @Test func gatewaysStartingTogetherMigrateOnce() async throws {
        let url = try TestPostgres.newDatabase()
        let storages = try await withThrowingTaskGroup(of: PostgresStorage.self) { group in
            for _ in 0..<4 { group.addTask { try await TestPostgres.storage(url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try TestPostgres.psql(url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM gateway_schema_migrations") == "1,2")
        try await storages[0].insertUser(conformance.user("olivia"))
        #expect(try await storages[3].user(named: "olivia") != nil)
        for storage in storages { await storage.close() }
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let url = try TestPostgres.newDatabase()
        await (try await TestPostgres.storage(url)).close()
        try TestPostgres.psql(url, "INSERT INTO gateway_schema_migrations VALUES (99, 0)")
        let storage = try await TestPostgres.storage(url, migrate: false)
        await #expect(throws: StorageError.self) { try await storage.migrate() }
        await storage.close()
    }

    @Test func anUnreachableServerFailsFastWithItsAddressAndNoPassword() async throws {
        let storage = try await TestPostgres.storage("postgres://gateway:s3cret-pw@127.0.0.1:1/gateway",
                                                     options: [("query_timeout_seconds", .double(1))], migrate: false)
        await TestServers.expectUnreachable(storage, address: "127.0.0.1:1", secret: "s3cret-pw", within: .seconds(35))
        let before = ContinuousClock.now
        await #expect(throws: StorageError.self) { _ = try await storage.user(named: "olivia") }
        // Fast against a hang (the 1 s query timeout, not TCP's minutes); CI load once made it 5.7 s.
        #expect(ContinuousClock.now - before < .seconds(15))
        await storage.close()
    }

    @Test func theURLIsReadAndItsPasswordNeverShown() throws {
        let configuration = try TestPostgres.configuration("postgresql://app%40x:p%2Fw@db.example:6543/gw?sslmode=require",
                                                           options: [("pool_size", .int(3))])
        #expect(configuration.host == "db.example" && configuration.port == 6543 && configuration.database == "gw")
        #expect(configuration.username == "app@x" && configuration.password == "p/w" && configuration.tls == .require)
        #expect(configuration.poolSize == 3)
        #expect("\(configuration)" == "postgres://app@x@db.example:6543/gw")
        let bad = ConfigDecoder.decode(PostgresStorage.Configuration.self, from: .object(JSONObject([
            ("url", .string("mysql://x")), ("pool_size", .int(0)), ("tls", .string("maybe")),
        ])))
        #expect(Set(bad.problems.map(\.path)) == ["url", "pool_size", "tls"])
    }
}
