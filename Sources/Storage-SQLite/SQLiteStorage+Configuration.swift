import GatewayCore

extension SQLiteStorage {
    public struct Configuration: Decodable, Sendable {
        /// Database file, relative to plugins.json. Default: `gateway.sqlite` in `server.data_dir`.
        public var path: String?

        enum CodingKeys: String, CodingKey { case path }

        public init(path: String? = nil) { self.path = path }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            path = try container.decodeIfPresent(String.self, forKey: .path).map { decoder.resolvePath($0) }
            if path?.isEmpty == true { try decoder.reportProblem(CodingKeys.path, "must not be empty") }
        }
    }
}
