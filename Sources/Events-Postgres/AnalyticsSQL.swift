import GatewayCore

/// The SQL of the analytics store, as plain text: what the backend issues, and what the tests
/// read for the TimescaleDB branch (TimescaleDB is not packaged for Debian).
public struct AnalyticsSQL: Sendable {
    public enum Layout: Sendable, Equatable {
        /// A TimescaleDB hypertable, compressed after `compressAfterDays`, with a retention policy.
        case hypertable
        /// Declarative partitioning by day; partitions made ahead and dropped past retention.
        case partitioned
    }

    /// A lowercase SQL identifier (checked by the configuration).
    public let table: String
    public let layout: Layout
    public let retentionDays: Int
    public let compressAfterDays: Int

    public init(table: String, layout: Layout, retentionDays: Int, compressAfterDays: Int = 7) {
        self.table = table
        self.layout = layout
        self.retentionDays = retentionDays
        self.compressAfterDays = compressAfterDays
    }

    var quoted: String { "\"\(table)\"" }

    /// Creates the table (idempotent).
    public var schema: [String] {
        let columns = """
            time TIMESTAMPTZ NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, actor TEXT, camera TEXT, \
            duration_seconds DOUBLE PRECISION, bytes BIGINT, details JSONB NOT NULL DEFAULT '{}', PRIMARY KEY (id, time)
            """
        let indexes = [
            "CREATE INDEX IF NOT EXISTS \"\(table)_camera_time\" ON \(quoted) (camera, time)",
            "CREATE INDEX IF NOT EXISTS \"\(table)_name_time\" ON \(quoted) (name, time)",
        ]
        switch layout {
        case .hypertable:
            return ["CREATE EXTENSION IF NOT EXISTS timescaledb",
                    "CREATE TABLE IF NOT EXISTS \(quoted) (\(columns))",
                    "SELECT create_hypertable('\(table)', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE)"]
                + indexes
                + ["ALTER TABLE \(quoted) SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera', timescaledb.compress_orderby = 'time DESC')",
                   "SELECT add_compression_policy('\(table)', INTERVAL '\(compressAfterDays) days', if_not_exists => TRUE)",
                   "SELECT add_retention_policy('\(table)', INTERVAL '\(retentionDays) days', if_not_exists => TRUE)"]
        case .partitioned:
            return ["CREATE TABLE IF NOT EXISTS \(quoted) (\(columns)) PARTITION BY RANGE (time)"] + indexes
        }
    }

    /// The partition of the UTC day starting at `day` (unix seconds, a multiple of 86 400).
    public func partitionName(day: Int) -> String {
        let date = WallClock.iso8601(Double(day)).prefix(10).replacingOccurrences(of: "-", with: "")
        return "\(table)_p\(date)"
    }

    public func createPartition(day: Int) -> String {
        let from = WallClock.iso8601(Double(day)), to = WallClock.iso8601(Double(day + 86_400))
        return "CREATE TABLE IF NOT EXISTS \"\(partitionName(day: day))\" PARTITION OF \(quoted) FOR VALUES FROM ('\(from)') TO ('\(to)')"
    }

    /// The partitions of this table and the day each starts (for dropping those past retention).
    public var listPartitions: String {
        """
        SELECT child.relname FROM pg_inherits JOIN pg_class parent ON parent.oid = pg_inherits.inhparent \
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid WHERE parent.relname = '\(table)'
        """
    }

    /// One statement for a whole batch: nine arrays, one element per event. Nulls travel as ''
    /// (texts), NaN (duration) and -1 (bytes); a duplicate (same id and time) is skipped.
    public var insert: String {
        """
        INSERT INTO \(quoted) (time, id, name, category, actor, camera, duration_seconds, bytes, details) \
        SELECT to_timestamp(e.t), e.id, e.name, e.category, NULLIF(e.actor, ''), NULLIF(e.camera, ''), NULLIF(e.duration, 'NaN'), \
        NULLIF(e.bytes, -1), e.details::jsonb \
        FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::int8[], $9::text[]) \
        AS e(t, id, name, category, actor, camera, duration, bytes, details) ON CONFLICT DO NOTHING
        """
    }

    /// The bucket of each row: `time_bucket` with TimescaleDB, `date_bin` (PostgreSQL 14+) otherwise,
    /// both aligned to 2000-01-01 UTC. `$1` is the bucket's length in seconds.
    public var bucketExpression: String {
        switch layout {
        case .hypertable: "time_bucket(make_interval(secs => $1), time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
        case .partitioned: "date_bin(make_interval(secs => $1), time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
        }
    }

    /// What every counts query adds up (the columns of `AnalyticsCounts`).
    static let measures = """
        count(*) FILTER (WHERE name = 'user.login'), count(*) FILTER (WHERE name = 'viewer.joined'), \
        COALESCE(sum(duration_seconds) FILTER (WHERE name = 'viewer.left'), 0), count(*) FILTER (WHERE name = 'clip.ready'), \
        count(*) FILTER (WHERE name = 'recording.segment_closed'), count(*) FILTER (WHERE name = 'video.played'), count(*)
        """

    /// `$1` bucket seconds (0 for none), `$2`/`$3` the time range, `$4` cameras (when `$7` is
    /// true: only events about them), `$5` type ('' for any: a name, or a category), `$6` actor ('' for any).
    public func counts(bucketed: Bool) -> String {
        let bucket = bucketed ? "extract(epoch FROM \(bucketExpression))::float8" : "(NULL::float8 + $1::int * 0)"
        return """
            SELECT \(bucket) AS bucket, camera, \(Self.measures) FROM \(quoted) WHERE \(Self.filters) \
            GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST
            """
    }

    public var activeUsers: String {
        "SELECT count(DISTINCT actor) FROM \(quoted) WHERE actor IS NOT NULL AND $1::int IS NOT NULL AND \(Self.filters)"
    }

    static let filters = """
        time >= to_timestamp($2) AND time < to_timestamp($3) AND (NOT $7::bool OR camera = ANY($4::text[])) \
        AND ($5 = '' OR name = $5 OR category = $5) AND ($6 = '' OR actor = $6)
        """
}
