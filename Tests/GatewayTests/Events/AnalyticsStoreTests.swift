import Foundation
@testable import EventsPostgres
import GatewayCore
import JSON
import Logging
import Testing

/// The PostgreSQL analytics store against the real PostgreSQL 15 of `scripts/test-servers.sh`
/// (plain declarative partitioning: TimescaleDB is not packaged here), and the TimescaleDB
/// branch by the SQL it issues.
@Suite struct AnalyticsStoreTests {
    static func backend(_ url: String, retentionDays: Int = 30) throws -> PostgresEventBackend {
        let json = JSONValue.object(JSONObject([("url", .string(url)), ("table", .string("analytics_events")), ("retention_days", .int(retentionDays))]))
        let decoded = ConfigDecoder.decode(PostgresEventBackend.Configuration.self, from: json)
        guard decoded.problems.isEmpty, let configuration = decoded.value else { throw TestFailure("\(decoded.problems)") }
        return try PostgresEventBackend(configuration: configuration, context: testContext("events"))
    }

    /// Runs the backend until the table is ready.
    static func started(_ backend: PostgresEventBackend) async throws -> Task<Void, Never> {
        let task = Task { _ = try? await backend.run() }
        let ready = try await eventually(timeout: .seconds(30)) {
            (try? await backend.counts(AnalyticsQuery(from: 0, to: 1))) != nil
        }
        try #require(ready, "the analytics table did not become ready")
        return task
    }

    @Test func bucketsFromAKnownEventSetMatchExactly() async throws {
        let url = try TestPostgres.newDatabase()
        let backend = try Self.backend(url)
        let running = try await Self.started(backend)
        defer { running.cancel() }
        // Two hours of events from an even hour four or five hours ago (buckets align to 2000-01-01).
        let hour = 3600.0
        let start = (WallClock.now() / (2 * hour)).rounded(.down) * 2 * hour - 4 * hour
        func event(_ name: String, _ offset: Double, actor: String? = nil, camera: String? = nil, _ details: [(String, JSONValue)] = []) -> GatewayEvent {
            GatewayEvent(name: name, actor: actor, camera: camera, details: JSONObject(details), time: start + offset)
        }
        let duplicate = event("viewer.joined", 20, actor: "victor", camera: "porch", [("via", .string("websocket"))])
        let events = [
            event("user.login", 1, actor: "olivia"), event("user.login", 2, actor: "victor"), event("user.login", 3599, actor: "olivia"),
            duplicate,
            event("viewer.joined", 30, actor: "olivia", camera: "porch"),
            event("viewer.left", 3700, actor: "victor", camera: "porch", [("duration_seconds", .double(30.5))]),
            event("viewer.left", 3800, actor: "olivia", camera: "porch", [("duration_seconds", .int(12)), ("bytes", .int(123_456))]),
            event("clip.ready", 3900, actor: "olivia", camera: "garage", [("video", .string("clip-1"))]),
            event("recording.segment_closed", 100, camera: "porch"), event("recording.segment_closed", 3700, camera: "porch"),
            event("video.played", 3650, actor: "victor", camera: "garage"),
            event("camera.state_changed", 5, camera: "garage", [("to", .string("online"))]),
        ]
        try await backend.deliver(events)
        // Delivered again (at least once): counted once.
        try await backend.deliver([duplicate])

        let rows = try await backend.counts(AnalyticsQuery(from: start, to: start + 2 * hour, bucketSeconds: 3600))
        func row(_ bucket: Double, _ camera: String?, logins: Int = 0, views: Int = 0, seconds: Double = 0, clips: Int = 0, recordings: Int = 0,
                 playbacks: Int = 0, events: Int) -> AnalyticsCounts {
            var row = AnalyticsCounts(bucket: bucket, camera: camera)
            (row.logins, row.views, row.viewingSeconds, row.clips, row.recordings, row.playbacks, row.events) =
                (logins, views, seconds, clips, recordings, playbacks, events)
            return row
        }
        #expect(rows == [
            row(start, nil, logins: 3, events: 3),
            row(start, "garage", events: 1),
            row(start, "porch", views: 2, recordings: 1, events: 3),
            row(start + hour, "garage", clips: 1, playbacks: 1, events: 2),
            row(start + hour, "porch", seconds: 42.5, recordings: 1, events: 3),
        ])
        // Filters: one camera, a category, a user; and the users who acted.
        let porch = try await backend.counts(AnalyticsQuery(from: start, to: start + 2 * hour, bucketSeconds: 7200, cameras: ["porch"]))
        #expect(porch == [row(start, "porch", views: 2, seconds: 42.5, recordings: 2, events: 6)])
        let none = try await backend.counts(AnalyticsQuery(from: start, to: start + 2 * hour, bucketSeconds: 3600, cameras: []))
        #expect(none.isEmpty)
        let clips = try await backend.counts(AnalyticsQuery(from: start, to: start + 2 * hour, bucketSeconds: 3600, type: "clip"))
        #expect(clips == [row(start + hour, "garage", clips: 1, events: 1)])
        let victor = try await backend.counts(AnalyticsQuery(from: start, to: start + 2 * hour, actor: "victor"))
        #expect(victor.map(\.events).reduce(0, +) == 4 && victor.allSatisfy { $0.bucket == nil })
        #expect(try await backend.activeUsers(AnalyticsQuery(from: start, to: start + 2 * hour)) == 2)
        #expect(try await backend.activeUsers(AnalyticsQuery(from: start + hour, to: start + 2 * hour, cameras: ["garage"])) == 2)
        // The row in the database keeps the event's id and details.
        let stored = try TestPostgres.psql(url, "SELECT id || ' ' || (details->>'video') FROM analytics_events WHERE name = 'clip.ready'")
        #expect(stored == events[7].id + " clip-1")
    }

    @Test func partitionsAreMadeAheadAndDroppedPastRetention() async throws {
        let url = try TestPostgres.newDatabase()
        let backend = try Self.backend(url, retentionDays: 3)
        let running = try await Self.started(backend)
        defer { running.cancel() }
        func partitions() throws -> [String] {
            try TestPostgres.psql(url, """
                SELECT string_agg(child.relname, ' ' ORDER BY child.relname) FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent \
                JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = 'analytics_events'
                """).split(separator: " ").map(String.init)
        }
        let day = 86_400
        let today = Int(WallClock.now()) / day * day
        let sql = AnalyticsSQL(table: "analytics_events", layout: .partitioned, retentionDays: 3)
        #expect(try await eventually { try partitions() == (-1...2).map { sql.partitionName(day: today + $0 * day) } })
        #expect(try TestPostgres.psql(url, "SELECT relkind FROM pg_class WHERE relname = 'analytics_events'") == "p")
        // An event of ten days ago (one that waited in a spool) has no partition: dropped, not stuck.
        try await backend.deliver([GatewayEvent(name: "user.login", actor: "old", time: Double(today - 10 * day)),
                                   GatewayEvent(name: "user.login", actor: "new")])
        #expect(try TestPostgres.psql(url, "SELECT string_agg(actor, ',') FROM analytics_events") == "new")
        // A partition past retention is dropped by the maintenance.
        try TestPostgres.psql(url, sql.createPartition(day: today - 5 * day))
        #expect(try partitions().contains(sql.partitionName(day: today - 5 * day)))
        try await backend.maintainPartitions(sql, now: WallClock.now())
        #expect(try partitions() == (-1...2).map { sql.partitionName(day: today + $0 * day) })
        #expect(PostgresEventBackend.day(ofPartition: sql.partitionName(day: today), table: "analytics_events") == today)
    }

    @Test func whileTheDatabaseIsAwayDeliveriesFailSoTheSpoolKeepsTheEvents() async throws {
        // Nothing listens on port 9: the schema is never ready, and a delivery says so.
        let backend = try Self.backend("postgres://gateway:secret@127.0.0.1:9/none?sslmode=disable")
        let running = Task { _ = try? await backend.run() }
        defer { running.cancel() }
        await #expect(throws: StorageError.self) { try await backend.deliver([GatewayEvent(name: "user.login")]) }
    }

    @Test func theTimescaleDBBranchIssuesAHypertableWithCompressionAndRetention() throws {
        let sql = AnalyticsSQL(table: "gateway_events", layout: .hypertable, retentionDays: 90, compressAfterDays: 7)
        #expect(sql.schema == [
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            "CREATE TABLE IF NOT EXISTS \"gateway_events\" (time TIMESTAMPTZ NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, "
                + "actor TEXT, camera TEXT, duration_seconds DOUBLE PRECISION, bytes BIGINT, details JSONB NOT NULL DEFAULT '{}', PRIMARY KEY (id, time))",
            "SELECT create_hypertable('gateway_events', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE)",
            "CREATE INDEX IF NOT EXISTS \"gateway_events_camera_time\" ON \"gateway_events\" (camera, time)",
            "CREATE INDEX IF NOT EXISTS \"gateway_events_name_time\" ON \"gateway_events\" (name, time)",
            "ALTER TABLE \"gateway_events\" SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera', timescaledb.compress_orderby = 'time DESC')",
            "SELECT add_compression_policy('gateway_events', INTERVAL '7 days', if_not_exists => TRUE)",
            "SELECT add_retention_policy('gateway_events', INTERVAL '90 days', if_not_exists => TRUE)",
        ])
        #expect(sql.counts(bucketed: true).contains("time_bucket(make_interval(secs => $1), time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"))
        #expect(!sql.counts(bucketed: true).contains("date_bin"))
        let plain = AnalyticsSQL(table: "gateway_events", layout: .partitioned, retentionDays: 90)
        #expect(plain.counts(bucketed: true).contains("date_bin(make_interval(secs => $1), time"))
        #expect(plain.schema.first?.hasSuffix("PARTITION BY RANGE (time)") == true)
        #expect(plain.createPartition(day: 1_796_083_200) == "CREATE TABLE IF NOT EXISTS \"gateway_events_p20261201\" PARTITION OF \"gateway_events\" "
            + "FOR VALUES FROM ('2026-12-01T00:00:00.000Z') TO ('2026-12-02T00:00:00.000Z')")
        // Which layout: an existing table keeps its own; otherwise TimescaleDB when there and allowed.
        #expect(try PostgresEventBackend.layout(mode: .auto, timescaleAvailable: true, existingKind: nil) == .hypertable)
        #expect(try PostgresEventBackend.layout(mode: .auto, timescaleAvailable: false, existingKind: nil) == .partitioned)
        #expect(try PostgresEventBackend.layout(mode: .off, timescaleAvailable: true, existingKind: nil) == .partitioned)
        #expect(try PostgresEventBackend.layout(mode: .auto, timescaleAvailable: true, existingKind: "p") == .partitioned)
        #expect(throws: (any Error).self) { try PostgresEventBackend.layout(mode: .require, timescaleAvailable: false, existingKind: nil) }
    }
}
