import CMongoC
import GatewayCore
import JSON
import Logging
import NIOPosix

/// The MongoDB storage backend (`type: "mongodb"`) through libmongoc: a client pool, and every
/// blocking call on a thread pool of its own (never on an event loop or the cooperative pool).
/// Documents cross as JSON (see `CMongoC/shim.h`). Only commands a real MongoDB 6/7 accepts:
/// find, insert, update (replacement or `$set`), delete, aggregate, createIndexes, ping.
public final class MongoStorage: StorageAdapter, @unchecked Sendable {
    public static let type = "mongodb"

    let configuration: Configuration
    let logger: Logger
    /// `mongoc_client_pool_t *`: thread-safe; each call pops a client and pushes it back.
    private let pool: OpaquePointer
    private let threads: NIOThreadPool

    public init(configuration: Configuration, context: PluginContext) throws {
        MongoLibrary.initialize()
        self.configuration = configuration
        logger = context.logger
        guard let uri = mongoc_uri_new_with_error(configuration.uri, nil) else {
            throw StorageError(.unavailable, component: "storage.mongodb", "\(configuration): not a valid MongoDB URI")
        }
        defer { mongoc_uri_destroy(uri) }
        let milliseconds = Int32(configuration.queryTimeout * 1000)
        for option in ["serverselectiontimeoutms", "sockettimeoutms", "connecttimeoutms"] where !mongoc_uri_has_option(uri, option) {
            mongoc_uri_set_option_as_int32(uri, option, milliseconds)
        }
        mongoc_uri_set_option_as_int32(uri, "maxpoolsize", Int32(configuration.poolSize))
        guard let pool = mongoc_client_pool_new(uri) else {
            throw StorageError(.unavailable, component: "storage.mongodb", "\(configuration): cannot make a client pool")
        }
        mongoc_client_pool_set_error_api(pool, 2)
        mongoc_client_pool_set_appname(pool, "camera-gateway")
        self.pool = pool
        threads = NIOThreadPool(numberOfThreads: configuration.poolSize)
        threads.start()
    }

    deinit {
        mongoc_client_pool_destroy(pool)
    }

    /// Checks the server answers and creates the indexes (idempotent: the same names and keys).
    public func migrate() async throws {
        _ = try await command("ping", database: "admin", .object(JSONObject([("ping", .int(1))])))
        for (collection, indexes) in Self.indexes {
            _ = try await command("create indexes", .object(JSONObject([
                ("createIndexes", .string(collection)), ("indexes", .array(indexes)),
            ])))
        }
        logger.info("storage ready", metadata: ["backend": "mongodb", "database": "\(configuration)"])
    }

    public func close() async {
        try? await threads.shutdownGracefully()
    }

    /// Runs a command on a pooled client on the thread pool; the reply, or `StorageError`.
    func command(_ what: String, database: String? = nil, _ command: JSONValue) async throws -> JSONObject {
        let text = JSONWriter.string(command)
        let database = database ?? configuration.database
        let reply = try await blocking(what) { client in
            var error = cmongo_error_t()
            guard let json = cmongo_command(client, database, text, &error) else { throw Self.storageError(error, what) }
            defer { bson_free(json) }
            return String(cString: json)
        }
        guard case .object(let object) = try JSONParser.parse(reply) else {
            throw StorageError(.corrupt, component: "storage.mongodb", "\(what): the reply is not a document")
        }
        if case .array(let errors)? = object["writeErrors"], case .object(let first)? = errors.first {
            if first["code"]?.doubleValue == 11000 { throw StorageError(.conflict, component: "storage.mongodb", "already exists") }
            throw StorageError(.unavailable, component: "storage.mongodb", "\(what): \(first["errmsg"]?.stringValue ?? "write error")")
        }
        return object
    }

    /// The documents `filter` matches in `collection`, with `options` (sort, skip, limit).
    func find(_ collection: String, _ filter: JSONObject, options: JSONObject = JSONObject()) async throws -> [JSONObject] {
        let filterText = JSONWriter.string(.object(filter)), optionsText = JSONWriter.string(.object(options))
        let database = configuration.database
        let lines = try await blocking("find \(collection)") { client in
            var error = cmongo_error_t()
            guard let json = cmongo_find(client, database, collection, filterText, optionsText, &error) else {
                throw Self.storageError(error, "find \(collection)")
            }
            defer { bson_free(json) }
            return String(cString: json)
        }
        return try lines.split(separator: "\n").map { line in
            guard case .object(let document) = try JSONParser.parse(String(line)) else {
                throw StorageError(.corrupt, component: "storage.mongodb", "\(collection): a document that is not an object")
            }
            return document
        }
    }

    private func blocking<T: Sendable>(_ what: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let pool = PoolHandle(pointer: pool)
        do {
            return try await threads.runIfActive {
                let client = mongoc_client_pool_pop(pool.pointer)!
                defer { mongoc_client_pool_push(pool.pointer, client) }
                return try body(client)
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.unavailable, component: "storage.mongodb", "\(what): \(error)")
        }
    }

    /// libmongoc's error as `StorageError`: a duplicate key is a conflict, anything else (no
    /// server, timeout, refused) unavailable. The message names the server, never a password.
    static func storageError(_ error: cmongo_error_t, _ what: String) -> StorageError {
        var copy = error
        let message = withUnsafeBytes(of: &copy.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        if error.code == 11000 { return StorageError(.conflict, component: "storage.mongodb", "already exists") }
        return StorageError(.unavailable, component: "storage.mongodb", "\(what): \(URLRedaction.redact(message))")
    }
}

private struct PoolHandle: @unchecked Sendable { let pointer: OpaquePointer }

enum MongoLibrary {
    private static let initialized: Bool = {
        mongoc_init()
        // libmongoc's own log prints every failed server check to stderr (several a second
        // while the server is away); failures reach the gateway as errors instead.
        mongoc_log_set_handler(nil, nil)
        return true
    }()

    static func initialize() { _ = initialized }
}

extension JSONValue {
    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
}
