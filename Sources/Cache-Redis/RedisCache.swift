import CHiredis
import Foundation
import GatewayCore
import JSON
import Logging
import Metrics
import NIOPosix
import Synchronization

/// The Redis cache (`cache: {"type": "redis", "url": "redis://[:password@]host:6379[/db]",
/// "ttl_seconds": 30, "local_ttl_seconds": 1, "timeout_seconds": 0.5}`) through hiredis:
/// commands on a small thread pool with a connection each, and a subscriber thread on the
/// invalidation channel. Redis away: misses, dropped writes, `gateway_cache_errors_total` and a
/// warning at most every 10 s — never an error for a user.
public final class RedisCache: CacheAdapter, @unchecked Sendable {
    public static let type = "redis"

    public struct Configuration: Decodable, Sendable {
        public var host = "127.0.0.1"
        public var port = 6379
        public var password: String?
        public var database = 0
        /// How long a cached record lives in Redis. Default 30.
        public var ttlSeconds = 30
        /// How long a record lives in each process's own memory (while invalidations arrive). Default 1.
        public var localTTLSeconds = 1.0
        /// How long a command may take before Redis counts as away. Default 0.5.
        public var timeoutSeconds = 0.5
        public var channel = "gateway:invalidate"

        enum CodingKeys: String, CodingKey {
            case url, ttlSeconds = "ttl_seconds", localTTLSeconds = "local_ttl_seconds", timeoutSeconds = "timeout_seconds", channel
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let url = try container.decode(String.self, forKey: .url)
            if let problem = apply(url: url) { try decoder.reportProblem(CodingKeys.url, problem) }
            ttlSeconds = try container.decodeIfPresent(Int.self, forKey: .ttlSeconds) ?? ttlSeconds
            localTTLSeconds = try container.decodeIfPresent(Double.self, forKey: .localTTLSeconds) ?? localTTLSeconds
            timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? timeoutSeconds
            channel = try container.decodeIfPresent(String.self, forKey: .channel) ?? channel
            try decoder.requireRange(ttlSeconds, 1...86_400, CodingKeys.ttlSeconds)
            try decoder.requireRange(localTTLSeconds, 0...60, CodingKeys.localTTLSeconds)
            try decoder.requireRange(timeoutSeconds, 0.01...30, CodingKeys.timeoutSeconds)
            if channel.isEmpty { try decoder.reportProblem(CodingKeys.channel, "must not be empty") }
        }

        mutating func apply(url text: String) -> String? {
            guard let components = URLComponents(string: text), components.scheme == "redis", let host = components.host, !host.isEmpty else {
                return "must be a redis://[:password@]host:port[/db] URL (TLS is not supported by hiredis 0.14)"
            }
            self.host = host
            if let port = components.port {
                guard (1...65_535).contains(port) else { return "port must be 1-65535" }
                self.port = port
            }
            password = components.percentEncodedPassword?.removingPercentEncoding
            let path = components.path.drop { $0 == "/" }
            if !path.isEmpty {
                guard let database = Int(path), (0...15).contains(database) else { return "the database must be 0-15" }
                self.database = database
            }
            return nil
        }

        var address: String { "redis://\(host):\(port)/\(database)" }
    }

    let configuration: Configuration
    private let logger: Logger
    private let errors: Counter
    private let threads: NIOThreadPool
    /// Idle connections (`redisContext *`), each used by one thread at a time.
    private let idle = Mutex<[Connection]>([])
    private let listening = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let lastWarning = Mutex<Double>(-.infinity)
    private let subscriber = Mutex<(connection: Connection?, thread: Thread?)>((nil, nil))

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        logger = context.logger
        errors = Counter(label: MetricName.cacheErrors, factory: context.metrics)
        threads = NIOThreadPool(numberOfThreads: 4)
        threads.start()
    }

    public var isListening: Bool { listening.load(ordering: .acquiring) }
    public var localTTL: Double { configuration.localTTLSeconds }

    public func get(_ key: String) async -> String? {
        guard let reply = await run(["GET", key]) else { return nil }
        return reply.type == REDIS_REPLY_STRING ? reply.text : nil
    }

    public func set(_ key: String, _ value: String) async {
        _ = await run(["SET", key, value, "EX", String(configuration.ttlSeconds)])
    }

    public func invalidate(_ keys: [String]) async {
        guard !keys.isEmpty else { return }
        _ = await run(["DEL"] + keys)
        _ = await run(["PUBLISH", configuration.channel, JSONWriter.string(.array(keys.map { .string($0) }))])
    }

    public func subscribe(_ handler: @escaping @Sendable ([String]?) -> Void) {
        let thread = Thread { [self] in listen(handler) }
        thread.name = "redis-invalidations"
        subscriber.withLock { $0.thread = thread }
        thread.start()
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        subscriber.withLock { state in if let connection = state.connection { cmredis_interrupt(connection.context) } }
        try? await threads.shutdownGracefully()
        for connection in idle.withLock({ connections in defer { connections = [] }; return connections }) { redisFree(connection.context) }
    }

    // MARK: Commands

    struct Reply: Sendable {
        let type: Int32
        let integer: Int64
        let text: String?
    }

    /// One command on a pooled connection, on the thread pool; nil when Redis is away (counted,
    /// and warned about at most every 10 s).
    private func run(_ arguments: [String]) async -> Reply? {
        guard !closed.load(ordering: .acquiring) else { return nil }
        do {
            return try await threads.runIfActive { [self] in try command(arguments) }
        } catch {
            errors.increment()
            warn("cache unavailable; using the storage", error)
            return nil
        }
    }

    private func command(_ arguments: [String]) throws -> Reply {
        let context = try idle.withLock { $0.popLast() }?.context ?? connect()
        var reply = cmredis_reply_t()
        withCArguments(arguments) { count, values, lengths in cmredis_command(context, count, values, lengths, &reply) }
        defer { free(reply.text) }
        let text = reply.text.map { String(cString: $0) }
        if reply.type == -1 {
            redisFree(context)
            throw CacheFailure(message: text ?? "no reply")
        }
        let connection = Connection(context: context)
        idle.withLock { $0.append(connection) }
        if reply.type == REDIS_REPLY_ERROR { throw CacheFailure(message: text ?? "error") }
        return Reply(type: reply.type, integer: reply.integer, text: text)
    }

    /// A new connection, authenticated and on the configured database.
    private func connect() throws -> RedisContext {
        var message = [CChar](repeating: 0, count: 256)
        guard let context = cmredis_connect(configuration.host, Int32(configuration.port), Int32(configuration.timeoutSeconds * 1000),
                                            &message, message.count) else {
            throw CacheFailure(message: "\(configuration.address): \(String(cString: message))")
        }
        var setup: [[String]] = []
        if let password = configuration.password { setup.append(["AUTH", password]) }
        if configuration.database != 0 { setup.append(["SELECT", String(configuration.database)]) }
        for arguments in setup {
            var reply = cmredis_reply_t()
            withCArguments(arguments) { count, values, lengths in cmredis_command(context, count, values, lengths, &reply) }
            defer { free(reply.text) }
            if reply.type == -1 || reply.type == REDIS_REPLY_ERROR {
                redisFree(context)
                throw CacheFailure(message: "\(configuration.address): \(arguments[0]) failed")
            }
        }
        return context
    }

    // MARK: Invalidations from other processes

    /// Subscribes, hands every message's keys to `handler`, and on a lost connection tells it
    /// (nil) and subscribes again with backoff, until closed.
    private func listen(_ handler: @Sendable ([String]?) -> Void) {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var random = SystemRandomNumberGenerator()
        while !closed.load(ordering: .acquiring) {
            do {
                let context = try connect()
                let connection = Connection(context: context)
                subscriber.withLock { $0.connection = connection }
                var reply = cmredis_reply_t()
                withCArguments(["SUBSCRIBE", configuration.channel]) { count, values, lengths in
                    cmredis_command(context, count, values, lengths, &reply)
                }
                free(reply.text)
                if reply.type != -1 {
                    cmredis_set_timeout(context, 0)
                    listening.store(true, ordering: .releasing)
                    backoff.reset()
                    while !closed.load(ordering: .acquiring) {
                        var payload: UnsafeMutablePointer<CChar>?
                        let found = cmredis_next_message(context, &payload)
                        if found < 0 { break }
                        if found == 1, let payload {
                            defer { free(payload) }
                            if case .array(let items)? = try? JSONParser.parse(String(cString: payload)) {
                                handler(items.compactMap { if case .string(let key) = $0 { key } else { nil } })
                            }
                        }
                    }
                }
                subscriber.withLock { $0.connection = nil }
                redisFree(context)
            } catch {
                warn("cache invalidation channel unavailable", error)
            }
            if listening.exchange(false, ordering: .acquiringAndReleasing) {
                handler(nil)
                if !closed.load(ordering: .acquiring) { errors.increment() }
            }
            if closed.load(ordering: .acquiring) { return }
            Thread.sleep(forTimeInterval: backoff.nextDelay(using: &random).seconds)
        }
    }

    private func warn(_ what: String, _ error: any Error) {
        let now = MonotonicTime.seconds()
        let due = lastWarning.withLock { last in
            guard now - last >= 10 else { return false }
            last = now
            return true
        }
        if due { logger.warning("\(what)", metadata: ["cache": "\(configuration.address)", "error": "\(error)"]) }
    }
}

struct CacheFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// `arguments` as byte buffers with their lengths, for `redisCommandArgv` (binary-safe: a NUL
/// inside an argument is sent as it is).
private func withCArguments(_ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Void) {
    let buffers = arguments.map { argument -> UnsafeMutableBufferPointer<CChar> in
        let bytes = Array(argument.utf8)
        let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
        buffer[bytes.count] = 0
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    var values = buffers.map { UnsafePointer<CChar>($0.baseAddress) }
    let lengths = arguments.map { $0.utf8.count }
    values.withUnsafeMutableBufferPointer { values in
        lengths.withUnsafeBufferPointer { lengths in body(Int32(arguments.count), values.baseAddress!, lengths.baseAddress!) }
    }
}

typealias RedisContext = UnsafeMutablePointer<redisContext>

/// A connection handed between threads: used by one at a time (popped, used, pushed back).
struct Connection: @unchecked Sendable { let context: RedisContext }
