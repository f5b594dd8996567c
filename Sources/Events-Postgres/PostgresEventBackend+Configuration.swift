import GatewayCore
import StoragePostgres

extension PostgresEventBackend {
    /// `events: [{"type": "postgres", "url": "postgres://user:password@host:5432/db", "table": "gateway_events",
    /// "retention_days": 30, "timescaledb": "auto", "compress_after_days": 7}]`, plus the connection
    /// options of the storage backend (`pool_size`, `tls`, `ca_file`, `query_timeout_seconds`).
    public struct Configuration: Decodable, Sendable {
        public enum TimescaleMode: String, Decodable, Sendable, ConfigEnum {
            /// A hypertable when the server has the extension, declarative partitions otherwise.
            case auto
            /// Declarative partitions even where TimescaleDB is available.
            case off
            /// A hypertable, or the backend does not start its schema (and says why).
            case require
        }

        public var connection: PostgresStorage.Configuration
        /// The events table: a lowercase SQL name. Default `gateway_events`.
        public var table = "gateway_events"
        /// Events older than this are dropped (partitions, or TimescaleDB's retention policy). Default 30.
        public var retentionDays = 30
        public var timescaledb = TimescaleMode.auto
        /// With TimescaleDB: chunks older than this are compressed. Default 7.
        public var compressAfterDays = 7

        enum CodingKeys: String, CodingKey {
            case table, retentionDays = "retention_days", timescaledb, compressAfterDays = "compress_after_days"
        }

        public init(from decoder: any Decoder) throws {
            connection = try PostgresStorage.Configuration(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            table = try container.decodeIfPresent(String.self, forKey: .table) ?? table
            retentionDays = try container.decodeIfPresent(Int.self, forKey: .retentionDays) ?? retentionDays
            timescaledb = try container.decodeIfPresent(TimescaleMode.self, forKey: .timescaledb) ?? timescaledb
            compressAfterDays = try container.decodeIfPresent(Int.self, forKey: .compressAfterDays) ?? compressAfterDays
            let allowed = table.utf8.allSatisfy { ("a"..."z").contains(Character(UnicodeScalar($0))) || ("0"..."9").contains(Character(UnicodeScalar($0))) || $0 == UInt8(ascii: "_") }
            if table.isEmpty || table.utf8.count > 48 || !allowed || table.first!.isNumber {
                try decoder.reportProblem(CodingKeys.table, "must be 1-48 characters: lowercase letters, digits and '_', not starting with a digit")
            }
            try decoder.requireRange(retentionDays, 1...36_500, CodingKeys.retentionDays)
            try decoder.requireRange(compressAfterDays, 1...36_500, CodingKeys.compressAfterDays)
        }
    }
}
