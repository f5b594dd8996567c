import CacheRedis
import Foundation
import GatewayCore
import JSON
import Logging
import Metrics
import Prometheus
import Synchronization
import Testing

/// The storage behind a counting wrapper: how often the cache let a read through.
final class CountingStorage: StorageBackend {
    let inner: any StorageBackend
    let reads = Mutex<[String: Int]>([:])
    init(_ inner: any StorageBackend) { self.inner = inner }
    func count(_ what: String) -> Int { reads.withLock { $0[what, default: 0] } }
    private func read(_ what: String) { reads.withLock { $0[what, default: 0] += 1 } }

    func migrate() async throws { try await inner.migrate() }
    func close() async { await inner.close() }
    func insertUser(_ user: UserRecord) async throws { try await inner.insertUser(user) }
    func user(named username: String) async throws -> UserRecord? { read("user"); return try await inner.user(named: username) }
    func user(id: String) async throws -> UserRecord? { read("user"); return try await inner.user(id: id) }
    func users() async throws -> [UserRecord] { try await inner.users() }
    func updatePasswordHash(username: String, hash: String) async throws { try await inner.updatePasswordHash(username: username, hash: hash) }
    func updateUserRole(username: String, role: UserRole) async throws -> Bool { try await inner.updateUserRole(username: username, role: role) }
    func upsertCamera(_ camera: CameraRecord) async throws { try await inner.upsertCamera(camera) }
    func camera(id: String) async throws -> CameraRecord? { read("camera"); return try await inner.camera(id: id) }
    func cameras() async throws -> [CameraRecord] { try await inner.cameras() }
    func deleteCamera(id: String) async throws -> Bool { try await inner.deleteCamera(id: id) }
    func putGrant(_ grant: GrantRecord) async throws { try await inner.putGrant(grant) }
    func grant(cameraID: String, username: String) async throws -> GrantRecord? {
        read("grant")
        return try await inner.grant(cameraID: cameraID, username: username)
    }
    func grants(cameraID: String) async throws -> [GrantRecord] { try await inner.grants(cameraID: cameraID) }
    func grants(username: String) async throws -> [GrantRecord] { try await inner.grants(username: username) }
    func deleteGrant(cameraID: String, username: String) async throws -> Bool { try await inner.deleteGrant(cameraID: cameraID, username: username) }
    func insertVideo(_ video: VideoRecord) async throws { try await inner.insertVideo(video) }
    func updateVideo(_ video: VideoRecord) async throws { try await inner.updateVideo(video) }
    func video(id: String) async throws -> VideoRecord? { try await inner.video(id: id) }
    func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int) { try await inner.videos(query) }
    func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int { try await inner.storedBytes(createdBy: createdBy, kind: kind) }
    func deleteVideo(id: String) async throws -> Bool { try await inner.deleteVideo(id: id) }
}

/// A Redis server of a test's own, which it may kill and start again on the same port.
final class OwnRedis: Sendable {
    let port: Int
    private let process = Mutex<Process?>(nil)

    init() throws {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    func start() throws {
        let redis = Process()
        redis.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        redis.arguments = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        redis.standardOutput = FileHandle.nullDevice
        try redis.run()
        process.withLock { $0 = redis }
        for _ in 0..<100 {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(client)
            if connected == 0 { return }
            usleep(50_000)
        }
        throw TestFailure("redis-server did not listen on \(port)")
    }

    /// SIGKILL: the test process blocks SIGTERM (for its own shutdown handling), and children
    /// inherit that mask.
    func kill() {
        guard let redis = process.withLock({ process in defer { process = nil }; return process }) else { return }
        Glibc.kill(redis.processIdentifier, SIGKILL)
        redis.waitUntilExit()
    }
}

@Suite struct CachedStorageTests {
    static func redis(_ url: String, metrics: (any MetricsFactory)? = nil) throws -> RedisCache {
        let decoded = ConfigDecoder.decode(RedisCache.Configuration.self, from: .object(JSONObject([
            ("url", .string(url)), ("ttl_seconds", .int(30)), ("local_ttl_seconds", .double(5)), ("timeout_seconds", .double(0.3)),
        ])))
        guard decoded.problems.isEmpty, let configuration = decoded.value else { throw TestFailure("\(decoded.problems)") }
        var context = testContext("cache")
        if let metrics {
            context = PluginContext(id: "cache", logger: context.logger, dataDirectory: context.dataDirectory, events: context.events, metrics: metrics)
        }
        return try RedisCache(configuration: configuration, context: context)
    }

    let records = StorageConformance { try await sqliteStorage() }
    let prefix = "c" + UUID().uuidString.prefix(8).lowercased()

    @Test(arguments: StorageConformanceTests.Backend.allCases)
    func repeatedReadsComeFromTheCache(_ backend: StorageConformanceTests.Backend) async throws {
        let counting = CountingStorage(try await backend.make())
        let registry = PrometheusCollectorRegistry()
        let cached = CachedStorage(storage: counting, cache: try Self.redis(try TestServers.require("GATEWAY_TEST_REDIS_URL")),
                                   localTTL: 5, metrics: PrometheusMetricsFactory(registry: registry))
        try await counting.insertUser(records.user("olivia"))
        try await cached.upsertCamera(records.camera("\(prefix)-door"))
        for _ in 0..<20 {
            #expect(try await cached.camera(id: "\(prefix)-door")?.name == "Camera \(prefix)-door")
            #expect(try await cached.grant(cameraID: "\(prefix)-door", username: "olivia") == nil)
            #expect(try await cached.user(named: "olivia")?.username == "olivia")
        }
        #expect(counting.count("camera") == 1)
        #expect(counting.count("grant") == 1)
        #expect(counting.count("user") <= 2)  // local only; once more if the channel was not yet up
        #expect(registry.emitToString().contains("gateway_cache_hits_total"))
        await cached.close()
    }

    @Test(arguments: StorageConformanceTests.Backend.allCases)
    func aWriteThroughOneProcessReachesAnother(_ backend: StorageConformanceTests.Backend) async throws {
        let url = try TestServers.require("GATEWAY_TEST_REDIS_URL")
        let shared = try await backend.make()
        // Two gateways on one database and one Redis: each its own cache client and local level.
        let first = CachedStorage(storage: shared, cache: try Self.redis(url), localTTL: 5)
        let second = CachedStorage(storage: shared, cache: try Self.redis(url), localTTL: 5)
        for name in ["olivia", "victor"] { try await shared.insertUser(records.user(name)) }
        try await first.upsertCamera(records.camera("\(prefix)-yard"))
        #expect(try await eventually(timeout: .seconds(5)) { (first.cache.isListening && second.cache.isListening) })
        #expect(try await first.grant(cameraID: "\(prefix)-yard", username: "victor") == nil)
        #expect(try await first.camera(id: "\(prefix)-yard")?.name == "Camera \(prefix)-yard")
        let grant = GrantRecord(cameraID: "\(prefix)-yard", username: "victor", role: .viewer, expiresAt: nil, grantedBy: "olivia", createdAt: 1)
        try await second.putGrant(grant)
        var renamed = records.camera("\(prefix)-yard")
        renamed.name = "Renamed"
        try await second.upsertCamera(renamed)
        #expect(try await eventually(timeout: .seconds(2)) { try await first.grant(cameraID: "\(prefix)-yard", username: "victor") == grant })
        #expect(try await first.camera(id: "\(prefix)-yard")?.name == "Renamed")
        // A revocation too: the first process stops seeing the grant.
        #expect(try await second.deleteGrant(cameraID: "\(prefix)-yard", username: "victor"))
        #expect(try await eventually(timeout: .seconds(2)) { try await first.grant(cameraID: "\(prefix)-yard", username: "victor") == nil })
        #expect(try await second.deleteCamera(id: "\(prefix)-yard"))
        #expect(try await eventually(timeout: .seconds(2)) { try await first.camera(id: "\(prefix)-yard") == nil })
        await first.cache.close()
        await second.cache.close()
        await shared.close()
    }

    @Test(arguments: StorageConformanceTests.Backend.allCases)
    func redisKilledMidTestDegradesToTheStorageAndComesBack(_ backend: StorageConformanceTests.Backend) async throws {
        let redis = try OwnRedis()
        defer { redis.kill() }
        let counting = CountingStorage(try await backend.make())
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)
        let cached = CachedStorage(storage: counting, cache: try Self.redis(redis.url, metrics: metrics), localTTL: 5, metrics: metrics)
        try await counting.insertUser(records.user("olivia"))
        try await cached.upsertCamera(records.camera("\(prefix)-gate"))
        #expect(try await cached.camera(id: "\(prefix)-gate") != nil)
        redis.kill()
        // Every answer stays right, from the storage; writes go through; nothing throws.
        var changed = records.camera("\(prefix)-gate")
        changed.name = "Changed while Redis was away"
        try await cached.upsertCamera(changed)
        for _ in 0..<5 { #expect(try await cached.camera(id: "\(prefix)-gate")?.name == "Changed while Redis was away") }
        #expect(!cached.cache.isListening)
        let errorsWhileAway = Self.counter("gateway_cache_errors_total", in: registry)
        #expect(errorsWhileAway > 0)
        try redis.start()
        #expect(try await eventually(timeout: .seconds(10)) { cached.cache.isListening })
        let before = counting.count("camera")
        _ = try await cached.camera(id: "\(prefix)-gate")
        _ = try await cached.camera(id: "\(prefix)-gate")
        #expect(counting.count("camera") == before + 1, "the cache is used again once Redis is back")
        await cached.close()
    }

    static func counter(_ name: String, in registry: PrometheusCollectorRegistry) -> Double {
        registry.emitToString().split(separator: "\n").filter { $0.hasPrefix(name) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }
}
