import Foundation
import GatewayCore
import JSON
import StorageMongoDB
import Testing

enum TestMongo {
    static func storage(database: String = "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16),
                        uri: String? = nil, timeout: Double = 5, migrate: Bool = true) async throws -> MongoStorage {
        let uri = try uri ?? TestServers.require("GATEWAY_TEST_MONGODB_URI")
        let decoded = ConfigDecoder.decode(MongoStorage.Configuration.self, from: .object(JSONObject([
            ("uri", .string(uri)), ("database", .string(database)), ("query_timeout_seconds", .double(timeout)),
        ])))
        guard decoded.problems.isEmpty, let configuration = decoded.value else { throw TestFailure("\(decoded.problems)") }
        let storage = try MongoStorage(configuration: configuration, context: testContext("mongodb"))
        if migrate { try await storage.migrate() }
        return storage
    }
}

/// The MongoDB backend against a MongoDB wire-protocol server (nx-27017 in `make test`), a new
/// database per test.
@Suite struct MongoStorageTests {
    let conformance = StorageConformance { try await TestMongo.storage() }


    @Test func startingAgainKeepsTheDataAndTheIndexes() async throws {
        let database = "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)
        let first = try await TestMongo.storage(database: database)
        try await first.insertUser(conformance.user("olivia"))
        await first.close()
        let second = try await TestMongo.storage(database: database)
        #expect(try await second.user(named: "olivia") != nil)
        await #expect(throws: StorageError.self) { try await second.insertUser(conformance.user("olivia")) }
        await second.close()
    }

    @Test func anUnreachableServerFailsFastWithoutThePassword() async throws {
        let storage = try await TestMongo.storage(uri: "mongodb://gateway:s3cret-pw@127.0.0.1:1/?authSource=admin", timeout: 1, migrate: false)
        // A hang guard, not a speed limit: the suites run side by side on 2 cores (6.2 s once in CI).
        await TestServers.expectUnreachable(storage, address: "127.0.0.1:1", secret: "s3cret-pw", within: .seconds(30))
        await storage.close()
    }

    @Test func booleansInACameraDefinitionSurvive() async throws {
        let storage = try await TestMongo.storage()
        var camera = conformance.camera("loop")
        camera.source = .object(JSONObject([("type", .string("file")), ("path", .string("/m.mp4")), ("loop", .bool(true)),
                                            ("realtime", .bool(false)), ("fps", .double(12.5))]))
        try await storage.upsertCamera(camera)
        #expect(try await storage.camera(id: "loop")?.source == camera.source)
        await storage.close()
    }
}
