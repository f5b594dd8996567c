import Foundation
import GatewayCore

extension PostgresStorage {
    /// `storage: {"type": "postgres", "url": "postgres://user:password@host:5432/db", "pool_size": 10,
    /// "tls": "prefer", "query_timeout_seconds": 5}`. The password may come from the environment
    /// (`${PGPASSWORD}`); it is never logged or returned.
    public struct Configuration: Decodable, Sendable, CustomStringConvertible {
        public enum TLSMode: String, Decodable, Sendable, ConfigEnum { case disable, prefer, require }

        public var host = "127.0.0.1"
        public var port = 5432
        public var username = "postgres"
        public var password: String?
        public var database: String?
        /// Connections the gateway keeps at most. Default 10.
        public var poolSize = 10
        /// `disable`, `prefer` (TLS when the server offers it) or `require` (certificate checked
        /// against the system's roots, or `ca_file`). Default `prefer`; `?sslmode=` in the URL too.
        public var tls = TLSMode.prefer
        /// PEM file of the CA that signed the server's certificate.
        public var caFile: String?
        /// How long a request waits for the database before it fails (503). Default 5.
        public var queryTimeout = 5.0

        enum CodingKeys: String, CodingKey {
            case url, poolSize = "pool_size", tls, caFile = "ca_file", queryTimeout = "query_timeout_seconds"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let url = try container.decode(String.self, forKey: .url)
            if let problem = apply(url: url) { try decoder.reportProblem(CodingKeys.url, problem) }
            poolSize = try container.decodeIfPresent(Int.self, forKey: .poolSize) ?? poolSize
            tls = try container.decodeIfPresent(TLSMode.self, forKey: .tls) ?? tls
            caFile = try container.decodeIfPresent(String.self, forKey: .caFile).map { decoder.resolvePath($0) }
            queryTimeout = try container.decodeIfPresent(Double.self, forKey: .queryTimeout) ?? queryTimeout
            try decoder.requireRange(poolSize, 1...500, CodingKeys.poolSize)
            try decoder.requireRange(queryTimeout, 0.1...300, CodingKeys.queryTimeout)
            if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                try decoder.reportUnusable(CodingKeys.caFile, "cannot read \(caFile)")
            }
        }

        /// Reads `postgres://user:password@host:port/database?sslmode=…`; the problem, if any.
        mutating func apply(url text: String) -> String? {
            guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
                return "must be a postgres://user:password@host:port/database URL"
            }
            guard let host = components.host, !host.isEmpty else { return "names no host" }
            self.host = host
            if let port = components.port {
                guard (1...65_535).contains(port) else { return "port must be 1-65535" }
                self.port = port
            }
            if let user = components.percentEncodedUser, let decoded = user.removingPercentEncoding, !decoded.isEmpty { username = decoded }
            password = components.percentEncodedPassword?.removingPercentEncoding
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            database = path.isEmpty ? nil : path
            for item in components.queryItems ?? [] where item.name == "sslmode" {
                switch item.value ?? "" {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: return "sslmode must be disable, prefer or require"
                }
            }
            return nil
        }

        /// The address without the password, for logs and errors.
        public var description: String { "postgres://\(username)@\(host):\(port)/\(database ?? username)" }
    }
}
