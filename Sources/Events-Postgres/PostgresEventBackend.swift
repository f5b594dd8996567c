import Foundation
import GatewayCore
import JSON
import Logging
import PostgresNIO
import StoragePostgres
import Synchronization

/// The analytics event backend (`type: "postgres"`): every event in a time-series table, inserted
/// in batches (one multi-row statement per batch, at least every second) from the bus's spool,
/// so nothing is lost while the database is away. With TimescaleDB the table is a compressed
/// hypertable with a retention policy; without it, a table partitioned by day whose partitions
/// are made ahead and dropped past `retention_days`. It answers the analytics API.
public final class PostgresEventBackend: RemoteEventBackend, EventBackendAdapter, EventAnalytics {
    public static let type = "postgres"

    public let configuration: Configuration
    let pool: PostgresPool
    private let logger: Logger
    /// The statements, once the schema exists (nil before: deliveries wait in the spool).
    private let sql = Mutex<AnalyticsSQL?>(nil)
    /// Days (unix seconds) whose partition is known to exist.
    private let partitions = Mutex<Set<Int>>([])

    public var batchLimit: Int { 500 }
    public var batchLinger: Duration { .milliseconds(200) }

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        logger = context.logger
        pool = try PostgresPool(configuration: configuration.connection, component: "events.postgres", logger: context.logger)
    }

    static let day = 86_400

    /// Prepares the schema (retrying while the database is away), then keeps the partitions
    /// until cancelled: made two days ahead, dropped past retention, every hour.
    public func run() async throws {
        pool.start()
        defer { Task { [pool] in await pool.close() } }
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        var random = SystemRandomNumberGenerator()
        var lastProblem: String?
        while !Task.isCancelled {
            do {
                let statements = try await prepare()
                sql.withLock { $0 = statements }
                logger.info("analytics store ready", metadata: [
                    "database": "\(configuration.connection)", "table": "\(configuration.table)",
                    "layout": "\(statements.layout == .hypertable ? "timescaledb hypertable" : "partitioned by day")",
                ])
                break
            } catch {
                if Task.isCancelled { return }
                if "\(error)" != lastProblem {
                    logger.warning("analytics store not ready; events wait in the spool", metadata: ["error": "\(error)"])
                    lastProblem = "\(error)"
                }
                try? await Task.sleep(for: backoff.nextDelay(using: &random))
            }
        }
        while !Task.isCancelled {
            if let statements = sql.withLock({ $0 }), statements.layout == .partitioned {
                do {
                    try await maintainPartitions(statements, now: WallClock.now())
                } catch {
                    logger.warning("analytics partitions not maintained", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// Creates the table (under a transaction-level advisory lock: several gateways may start at
    /// once) in the layout the server allows; returns its statements.
    func prepare() async throws -> AnalyticsSQL {
        let configuration = configuration
        let logger = logger
        return try await pool.bounded("prepare the analytics table", timeout: max(configuration.connection.queryTimeout, 30)) { client in
            try await client.withConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(configuration.table)))", logger: logger)
                    var kind: String?
                    for try await value in try await connection.query(
                        "SELECT relkind::text FROM pg_class WHERE relname = \(configuration.table) AND relnamespace = current_schema()::regnamespace",
                        logger: logger).decode(String.self) { kind = value }
                    var available = false
                    for try await count in try await connection.query(
                        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'", logger: logger).decode(Int.self) { available = count > 0 }
                    let layout = try Self.layout(mode: configuration.timescaledb, timescaleAvailable: available, existingKind: kind)
                    let statements = AnalyticsSQL(table: configuration.table, layout: layout, retentionDays: configuration.retentionDays,
                                                  compressAfterDays: configuration.compressAfterDays)
                    for statement in statements.schema {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    return statements
                }
            }
        }
    }

    struct LayoutProblem: Error, CustomStringConvertible { let description: String }

    /// Which layout to use: the existing table's (`p` partitioned, `r` a plain table TimescaleDB
    /// made a hypertable), else TimescaleDB when available and allowed.
    static func layout(mode: Configuration.TimescaleMode, timescaleAvailable: Bool, existingKind: String?) throws -> AnalyticsSQL.Layout {
        switch existingKind {
        case "p"?: return .partitioned
        case "r"?: return .hypertable
        case nil: break
        case let other?: throw LayoutProblem(description: "a relation of kind '\(other)' already has the events table's name")
        }
        if mode == .require, !timescaleAvailable {
            throw LayoutProblem(description: "timescaledb is \"require\" but the server has no TimescaleDB extension")
        }
        return timescaleAvailable && mode != .off ? .hypertable : .partitioned
    }

    /// Makes the partitions from yesterday to two days ahead and drops those past retention.
    func maintainPartitions(_ statements: AnalyticsSQL, now: Double) async throws {
        let today = Int(now / Double(Self.day)) * Self.day
        for day in stride(from: today - Self.day, through: today + 2 * Self.day, by: Self.day) {
            try await ensurePartition(statements, day: day)
        }
        let oldest = today - configuration.retentionDays * Self.day
        let logger = logger
        let names = try await pool.bounded("list the analytics partitions") { client in
            try await all(client.query(PostgresQuery(unsafeSQL: statements.listPartitions), logger: logger).decode(String.self))
        }
        for name in names {
            guard let day = Self.day(ofPartition: name, table: statements.table), day + Self.day <= oldest else { continue }
            _ = try await pool.bounded("drop an analytics partition") { client in
                try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \"\(name)\""), logger: logger)
            }
            partitions.withLock { _ = $0.remove(day) }
            logger.info("analytics partition dropped past retention", metadata: ["partition": "\(name)"])
        }
    }

    /// The day a partition named `{table}_pYYYYMMDD` holds.
    static func day(ofPartition name: String, table: String) -> Int? {
        guard name.hasPrefix(table + "_p") else { return nil }
        let digits = name.dropFirst(table.count + 2)
        guard digits.count == 8, let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)), let day = Int(digits.suffix(2)) else {
            return nil
        }
        var parts = DateComponents()
        (parts.year, parts.month, parts.day) = (year, month, day)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: parts).map { Int($0.timeIntervalSince1970) }
    }

    private func ensurePartition(_ statements: AnalyticsSQL, day: Int) async throws {
        guard !partitions.withLock({ $0.contains(day) }) else { return }
        let logger = logger
        let table = statements.table
        _ = try await pool.bounded("create an analytics partition") { client in
            try await client.withConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    // Two gateways creating the same partition: one waits for the other.
                    try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(table)))", logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: statements.createPartition(day: day)), logger: logger)
                }
            }
        }
        partitions.withLock { _ = $0.insert(day) }
    }

    // MARK: delivery

    public func deliver(_ batch: [GatewayEvent]) async throws {
        guard let statements = sql.withLock({ $0 }) else {
            throw StorageError(.unavailable, component: "events.postgres", "the analytics table is not ready yet")
        }
        var events = batch
        if statements.layout == .partitioned {
            // Past retention there is no partition to go to; such an event (one that waited in
            // the spool for longer than that) is dropped.
            let oldest = Double((Int(WallClock.now() / Double(Self.day)) - configuration.retentionDays) * Self.day)
            events.removeAll { $0.time < oldest }
            for day in Set(events.map { Int(($0.time / Double(Self.day)).rounded(.down)) * Self.day }).sorted() {
                try await ensurePartition(statements, day: day)
            }
        }
        guard !events.isEmpty else { return }
        do {
            try await insert(events, statements)
        } catch let error as StorageError where error.code == .invalidValue {
            // One event the database refuses must not hold up the others: one at a time, and
            // the refused one is dropped with a warning.
            for event in events {
                do {
                    try await insert([event], statements)
                } catch let error as StorageError where error.code == .invalidValue {
                    logger.warning("analytics store refused an event; dropped", metadata: ["event": "\(event.name)", "id": "\(event.id)", "error": "\(error)"])
                }
            }
        }
    }

    private func insert(_ events: [GatewayEvent], _ statements: AnalyticsSQL) async throws {
        var binds = PostgresBindings(capacity: 9)
        binds.append(events.map(\.time))
        binds.append(events.map(\.id))
        binds.append(events.map(\.name))
        binds.append(events.map { String($0.category) })
        binds.append(events.map { $0.actor ?? "" })
        binds.append(events.map { $0.camera ?? "" })
        binds.append(events.map { $0.details["duration_seconds"]?.doubleValue ?? .nan })
        binds.append(events.map { event -> Int in
            if case .int(let bytes)? = event.details["bytes"], bytes >= 0 { return bytes }
            return -1
        })
        binds.append(events.map { JSONWriter.string(.object($0.details)) })
        let query = PostgresQuery(unsafeSQL: statements.insert, binds: binds)
        let logger = logger
        _ = try await pool.bounded("insert \(events.count) events") { client in try await client.query(query, logger: logger).collect() }
    }

    // MARK: analytics

    private func statements() throws -> AnalyticsSQL {
        guard let statements = sql.withLock({ $0 }) else {
            throw GatewayError(.storageUnavailable, "the analytics store is not ready yet (is PostgreSQL reachable?)")
        }
        return statements
    }

    private func binds(_ query: AnalyticsQuery) -> PostgresBindings {
        var binds = PostgresBindings(capacity: 7)
        binds.append(query.bucketSeconds ?? 0)
        binds.append(query.from)
        binds.append(query.to)
        binds.append(query.cameras ?? [])
        binds.append(query.type ?? "")
        binds.append(query.actor ?? "")
        binds.append(query.cameras != nil)
        return binds
    }

    public func counts(_ query: AnalyticsQuery) async throws -> [AnalyticsCounts] {
        let request = PostgresQuery(unsafeSQL: try statements().counts(bucketed: query.bucketSeconds != nil), binds: binds(query))
        let logger = logger
        let rows = try await pool.bounded("analytics counts") { client in
            try await all(client.query(request, logger: logger).decode((Double?, String?, Int, Int, Double, Int, Int, Int, Int).self))
        }
        return rows.map { row in
            var counts = AnalyticsCounts(bucket: row.0, camera: row.1)
            (counts.logins, counts.views, counts.viewingSeconds, counts.clips) = (row.2, row.3, row.4, row.5)
            (counts.recordings, counts.playbacks, counts.events) = (row.6, row.7, row.8)
            return counts
        }
    }

    public func activeUsers(_ query: AnalyticsQuery) async throws -> Int {
        let request = PostgresQuery(unsafeSQL: try statements().activeUsers, binds: binds(query))
        let logger = logger
        return try await pool.bounded("analytics active users") { client in
            try await all(client.query(request, logger: logger).decode(Int.self)).first ?? 0
        }
    }
}

/// Every element of a sequence of decoded rows.
private func all<S: AsyncSequence>(_ rows: S) async throws -> [S.Element] {
    var elements: [S.Element] = []
    for try await element in rows { elements.append(element) }
    return elements
}
