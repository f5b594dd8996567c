import JSON
import Logging
import Metrics
import Synchronization

/// A shared key-value cache in front of the storage (`cache` in plugins.json; `redis`). Every
/// call degrades instead of failing: a cache that is away answers misses, drops writes, counts
/// the error and logs a warning — a user never sees its failure.
public protocol StorageCache: Sendable {
    func get(_ key: String) async -> String?
    func set(_ key: String, _ value: String) async
    /// Deletes the keys here and tells every gateway process sharing the cache to drop them.
    func invalidate(_ keys: [String]) async
    /// Calls `handler` with the keys other processes invalidate, and with nil whenever the
    /// channel is lost (local copies must then be dropped: invalidations may have been missed).
    func subscribe(_ handler: @escaping @Sendable ([String]?) -> Void)
    /// Whether invalidations from other processes are arriving now.
    var isListening: Bool { get }
    /// Seconds a record may live in a process's own memory (0: never).
    var localTTL: Double { get }
    func close() async
}

public protocol CacheAdapter: Plugin, StorageCache {
    init(configuration: Configuration, context: PluginContext) throws
}

/// The storage with a read-through cache on its hot paths — a camera by id, a grant, a user by
/// name or id: what every HLS segment request and Socket.IO event asks. Two levels: a small
/// in-process map (`localTTL`, used only while invalidations arrive) and the shared cache. Every
/// write that changes a cached record invalidates it in both, for every process.
public final class CachedStorage: StorageBackend {
    public let storage: any StorageBackend
    public let cache: any StorageCache
    private let local: LocalCache
    private let observers = Observers()
    private let hits: Counter
    private let misses: Counter

    public init(storage: any StorageBackend, cache: any StorageCache, localTTL: Double = 1, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.storage = storage
        self.cache = cache
        local = LocalCache(ttl: localTTL)
        hits = Counter(label: MetricName.cacheHits, factory: metrics)
        misses = Counter(label: MetricName.cacheMisses, factory: metrics)
        cache.subscribe { [local, observers] keys in
            if let keys { local.remove(keys) } else { local.removeAll() }
            for observer in observers.list.withLock({ $0 }) { observer(keys) }
        }
    }

    /// Calls `observer` with the keys another process invalidated (nil: the channel was lost, and
    /// anything may have changed): the server re-checks its open streams' access on it.
    public func observeInvalidations(_ observer: @escaping @Sendable ([String]?) -> Void) {
        observers.list.withLock { $0.append(observer) }
    }

    /// Whether invalidated `keys` touch access: cameras or grants.
    public static func touchesAccess(_ keys: [String]?) -> Bool {
        guard let keys else { return true }
        return keys.contains { $0.hasPrefix("gw1:camera:") || $0.hasPrefix("gw1:grant:") || $0.hasPrefix("gw1:user:") }
    }

    public func migrate() async throws { try await storage.migrate() }

    public func close() async {
        await cache.close()
        await storage.close()
    }

    // MARK: Cached reads

    /// Users are kept in the process's own memory only: a password hash never goes to the cache.
    public func user(named username: String) async throws -> UserRecord? {
        try await cached(Key.userName(username), shared: false) { try await self.storage.user(named: username) }
    }

    public func user(id: String) async throws -> UserRecord? {
        try await cached(Key.userID(id), shared: false) { try await self.storage.user(id: id) }
    }

    public func camera(id: String) async throws -> CameraRecord? {
        try await cached(Key.camera(id)) { try await self.storage.camera(id: id) }
    }

    public func grant(cameraID: String, username: String) async throws -> GrantRecord? {
        try await cached(Key.grant(cameraID, username)) { try await self.storage.grant(cameraID: cameraID, username: username) }
    }

    // MARK: Writes that invalidate

    public func insertUser(_ user: UserRecord) async throws {
        try await storage.insertUser(user)
        await invalidate([Key.userName(user.username), Key.userID(user.id)])
    }

    public func updateUserRole(username: String, role: UserRole) async throws -> Bool {
        let updated = try await storage.updateUserRole(username: username, role: role)
        let id = try await storage.user(named: username)?.id
        await invalidate([Key.userName(username)] + (id.map { [Key.userID($0)] } ?? []))
        return updated
    }

    public func updatePasswordHash(username: String, hash: String) async throws {
        try await storage.updatePasswordHash(username: username, hash: hash)
        let id = try await storage.user(named: username)?.id
        await invalidate([Key.userName(username)] + (id.map { [Key.userID($0)] } ?? []))
    }

    public func upsertCamera(_ camera: CameraRecord) async throws {
        try await storage.upsertCamera(camera)
        await invalidate([Key.camera(camera.id)])
    }

    public func deleteCamera(id: String) async throws -> Bool {
        let grants = try await storage.grants(cameraID: id)
        let deleted = try await storage.deleteCamera(id: id)
        await invalidate([Key.camera(id)] + grants.map { Key.grant(id, $0.username) })
        return deleted
    }

    public func putGrant(_ grant: GrantRecord) async throws {
        try await storage.putGrant(grant)
        await invalidate([Key.grant(grant.cameraID, grant.username)])
    }

    public func deleteGrant(cameraID: String, username: String) async throws -> Bool {
        let deleted = try await storage.deleteGrant(cameraID: cameraID, username: username)
        await invalidate([Key.grant(cameraID, username)])
        return deleted
    }

    // MARK: Not cached

    public func users() async throws -> [UserRecord] { try await storage.users() }
    public func cameras() async throws -> [CameraRecord] { try await storage.cameras() }
    public func grants(cameraID: String) async throws -> [GrantRecord] { try await storage.grants(cameraID: cameraID) }
    public func grants(username: String) async throws -> [GrantRecord] { try await storage.grants(username: username) }
    public func insertVideo(_ video: VideoRecord) async throws { try await storage.insertVideo(video) }
    public func updateVideo(_ video: VideoRecord) async throws { try await storage.updateVideo(video) }
    public func video(id: String) async throws -> VideoRecord? { try await storage.video(id: id) }
    public func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int) { try await storage.videos(query) }
    public func deleteVideo(id: String) async throws -> Bool { try await storage.deleteVideo(id: id) }
    public func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int { try await storage.storedBytes(createdBy: createdBy, kind: kind) }

    // MARK: Levels

    /// Keys, versioned: a change to a record's encoding takes a new prefix.
    enum Key {
        static func userName(_ name: String) -> String { "gw1:user:name:" + name }
        static func userID(_ id: String) -> String { "gw1:user:id:" + id }
        static func camera(_ id: String) -> String { "gw1:camera:" + id }
        static func grant(_ camera: String, _ user: String) -> String { "gw1:grant:\(camera.utf8.count):\(camera):" + user }
    }

    private func invalidate(_ keys: [String]) async {
        local.remove(keys)
        await cache.invalidate(keys)
    }

    /// The record under `key`: the local copy (only while invalidations arrive), the shared one
    /// (when `shared`), or storage's, then kept in both. "Absent" is kept too, so a viewer without
    /// a grant does not ask storage on every segment.
    private func cached<R: CacheCodable>(_ key: String, shared: Bool = true, _ load: @Sendable () async throws -> R?) async throws -> R? {
        let useLocal = cache.isListening
        if useLocal, let text = local.get(key) {
            hits.increment()
            return R.decodeCached(text)
        }
        if shared, let text = await cache.get(key) {
            hits.increment()
            if useLocal { local.set(key, text) }
            return R.decodeCached(text)
        }
        misses.increment()
        let value = try await load()
        let text = value.map { $0.cachedText } ?? CacheText.absent
        if shared { await cache.set(key, text) }
        if useLocal { local.set(key, text) }
        return value
    }
}

final class Observers: Sendable {
    let list = Mutex<[@Sendable ([String]?) -> Void]>([])
}

/// The in-process level: bounded, short-lived, dropped whole when invalidations may be missed.
final class LocalCache: Sendable {
    private let ttl: Double
    private let entries = Mutex<[String: (text: String, expires: Double)]>([:])
    static let capacity = 50_000

    init(ttl: Double) { self.ttl = ttl }

    func get(_ key: String) -> String? {
        let now = MonotonicTime.seconds()
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            if entry.expires <= now { entries[key] = nil; return nil }
            return entry.text
        }
    }

    func set(_ key: String, _ text: String) {
        guard ttl > 0 else { return }
        let expires = MonotonicTime.seconds() + ttl
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (text, expires)
        }
    }

    func remove(_ keys: [String]) { entries.withLock { entries in for key in keys { entries[key] = nil } } }
    func removeAll() { entries.withLock { $0.removeAll() } }
}

enum CacheText {
    /// What an absent record is cached as (a record's text is always a JSON object).
    static let absent = "-"
}

/// A record as the cache keeps it: JSON text.
protocol CacheCodable {
    var cachedText: String { get }
    static func fromCached(_ object: JSONObject) -> Self?
}

extension CacheCodable {
    /// The record, or nil for "absent" and for text that does not read (treated as absent: the
    /// next write replaces it).
    static func decodeCached(_ text: String) -> Self? {
        guard text != CacheText.absent, case .object(let object)? = try? JSONParser.parse(text) else { return nil }
        return fromCached(object)
    }
}

extension UserRecord: CacheCodable {
    var cachedText: String {
        JSONWriter.string(.object(JSONObject([("id", .string(id)), ("username", .string(username)), ("passwordHash", .string(passwordHash)),
                                              ("role", .string(role.rawValue)), ("createdAt", .double(createdAt))])))
    }

    static func fromCached(_ object: JSONObject) -> UserRecord? {
        guard case .string(let id)? = object["id"], case .string(let username)? = object["username"],
              case .string(let hash)? = object["passwordHash"], case .string(let role)? = object["role"], let role = UserRole(rawValue: role)
        else { return nil }
        return UserRecord(id: id, username: username, passwordHash: hash, role: role, createdAt: object["createdAt"]?.doubleValue ?? 0)
    }
}

extension CameraRecord: CacheCodable {
    var cachedText: String {
        var object = JSONObject([("id", .string(id)), ("name", .string(name)), ("source", source), ("sinks", sinks),
                                 ("origin", .string(origin.rawValue)), ("sourceTrust", .string(sourceTrust.rawValue)),
                                 ("createdAt", .double(createdAt)), ("updatedAt", .double(updatedAt))])
        if let owner { object["owner"] = .string(owner) }
        return JSONWriter.string(.object(object))
    }

    static func fromCached(_ object: JSONObject) -> CameraRecord? {
        guard case .string(let id)? = object["id"], case .string(let name)? = object["name"], let source = object["source"],
              let sinks = object["sinks"], case .string(let origin)? = object["origin"], let origin = CameraOrigin(rawValue: origin),
              case .string(let trust)? = object["sourceTrust"], let trust = SourceTrust(rawValue: trust)
        else { return nil }
        var owner: String?
        if case .string(let value)? = object["owner"] { owner = value }
        return CameraRecord(id: id, name: name, owner: owner, source: source, sinks: sinks, origin: origin, sourceTrust: trust,
                            createdAt: object["createdAt"]?.doubleValue ?? 0, updatedAt: object["updatedAt"]?.doubleValue ?? 0)
    }
}

extension GrantRecord: CacheCodable {
    var cachedText: String {
        JSONWriter.string(.object(JSONObject([("cameraID", .string(cameraID)), ("username", .string(username)), ("role", .string(role.rawValue)),
                                              ("expiresAt", expiresAt.map { .double($0) } ?? .null), ("grantedBy", .string(grantedBy)),
                                              ("createdAt", .double(createdAt))])))
    }

    static func fromCached(_ object: JSONObject) -> GrantRecord? {
        guard case .string(let cameraID)? = object["cameraID"], case .string(let username)? = object["username"],
              case .string(let role)? = object["role"], let role = GrantRole(rawValue: role), case .string(let grantedBy)? = object["grantedBy"]
        else { return nil }
        return GrantRecord(cameraID: cameraID, username: username, role: role, expiresAt: object["expiresAt"]?.doubleValue,
                           grantedBy: grantedBy, createdAt: object["createdAt"]?.doubleValue ?? 0)
    }
}
