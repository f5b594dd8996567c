import GatewayCore

extension MongoStorage {
    /// `storage: {"type": "mongodb", "uri": "mongodb://user:password@host:27017/?authSource=admin",
    /// "database": "gateway", "pool_size": 10, "query_timeout_seconds": 5}`.
    public struct Configuration: Decodable, Sendable, CustomStringConvertible {
        public var uri = "mongodb://127.0.0.1:27017"
        public var database = "gateway"
        /// Clients (connections) kept at most, and threads that make the blocking calls. Default 10.
        public var poolSize = 10
        /// How long a request waits for a server (selection, socket) before it fails (503). Default 5.
        public var queryTimeout = 5.0

        enum CodingKeys: String, CodingKey {
            case uri, database, poolSize = "pool_size", queryTimeout = "query_timeout_seconds"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            uri = try container.decode(String.self, forKey: .uri)
            database = try container.decodeIfPresent(String.self, forKey: .database) ?? database
            poolSize = try container.decodeIfPresent(Int.self, forKey: .poolSize) ?? poolSize
            queryTimeout = try container.decodeIfPresent(Double.self, forKey: .queryTimeout) ?? queryTimeout
            if !(uri.hasPrefix("mongodb://") || uri.hasPrefix("mongodb+srv://")) {
                try decoder.reportProblem(CodingKeys.uri, "must be a mongodb:// URI")
            }
            // Database names: no '/', '\', '.', ' ', '"', '$', NUL; at most 63 bytes.
            if database.isEmpty || database.utf8.count > 63 || database.contains(where: { "/\\. \"$\u{0}".contains($0) }) {
                try decoder.reportProblem(CodingKeys.database, "must be 1-63 bytes without / \\ . space \" $")
            }
            try decoder.requireRange(poolSize, 1...100, CodingKeys.poolSize)
            try decoder.requireRange(queryTimeout, 0.1...300, CodingKeys.queryTimeout)
        }

        public init(uri: String, database: String) {
            self.uri = uri
            self.database = database
        }

        /// The URI without credentials, and the database, for logs and errors.
        public var description: String { "\(URLRedaction.redact(uri)) database \(database)" }
    }
}
