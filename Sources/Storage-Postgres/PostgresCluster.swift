import GatewayCore
import JSON
import Logging
import PostgresNIO
import Synchronization

extension PostgresStorage: ClusterCapableStorage {
    public func makeCluster(logger: Logger, timeout: Double) throws -> any ClusterBackend {
        PostgresCluster(pool: pool, logger: logger, timeout: min(configuration.queryTimeout, timeout))
    }
}

/// Cluster coordination on PostgreSQL (docs/scale-out.md):
/// - each node holds a connection of its own (never pooled, never behind a transaction-mode
///   pooler), its *lock session*; a camera belongs to the node whose session holds the
///   camera's session advisory lock, and the node's own lock says the session is open;
/// - when the node dies its session ends (the kernel closes the socket at once; a vanished
///   host is noticed by TCP keepalive and `tcp_user_timeout`, set short on the session) and
///   every lock goes with it;
/// - `gateway_nodes` holds each node's address, weight and heartbeat (the database's clock);
/// - LISTEN/NOTIFY on the lock session carries cluster events.
final class PostgresCluster: ClusterBackend {
    static let channel = "gateway_cluster"

    private struct Session {
        let connection: PostgresConnection
        let pid: Int
        let node: ClusterNodeInfo
        let listener: Task<Void, Never>
    }

    private let pool: PostgresPool
    private let logger: Logger
    private let session = Mutex<Session?>(nil)
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    /// How long a request on the lock session may take.
    private let timeout: Double

    init(pool: PostgresPool, logger: Logger, timeout: Double) {
        self.pool = pool
        self.logger = logger
        self.timeout = timeout
        (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    func join(_ node: ClusterNodeInfo, fresh: Bool) async throws {
        await leave()
        let connection = try await pool.bounded("cluster connect", timeout: timeout) { [pool] _ in try await pool.connect() }
        do {
            // A host that vanishes is noticed by the server within about 10 s: its locks go.
            for setting in ["tcp_keepalives_idle = 5", "tcp_keepalives_interval = 2", "tcp_keepalives_count = 3",
                            "tcp_user_timeout = 10000", "application_name = 'camera-gateway node'"] {
                _ = try? await onConnection(connection, "session settings") { [logger] in
                    try await $0.query(PostgresQuery(unsafeSQL: "SET " + setting), logger: logger).collect()
                }
            }
            let pid = try await value(connection, "backend pid", "SELECT pg_backend_pid()", Int.self) ?? 0
            guard try await value(connection, "node lock", "SELECT pg_try_advisory_lock(\(ClusterKeys.node(node.id)))", Bool.self) == true else {
                throw StorageError(.conflict, component: "cluster", "node id '\(node.id)' is in use by another live node")
            }
            _ = try await onConnection(connection, "register node") { [logger] in
                try await $0.query("""
                    INSERT INTO gateway_nodes (id, url, public_url, weight, max_cameras, draining, started_at, heartbeat_at, lock_pid, states)
                    VALUES (\(node.id), \(node.url), \(node.publicURL), \(node.weight), \(node.maxCameras), FALSE,
                            EXTRACT(EPOCH FROM clock_timestamp())::float8, EXTRACT(EPOCH FROM clock_timestamp())::float8, pg_backend_pid(), '{}')
                    ON CONFLICT (id) DO UPDATE SET url = excluded.url, public_url = excluded.public_url, weight = excluded.weight, max_cameras = excluded.max_cameras,
                        draining = gateway_nodes.draining AND NOT \(fresh), started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                        lock_pid = excluded.lock_pid, states = '{}'
                    """, logger: logger).collect()
            }
            // Nodes gone for a day are forgotten.
            _ = try? await onConnection(connection, "forget nodes") { [logger] in
                try await $0.query("DELETE FROM gateway_nodes WHERE heartbeat_at < EXTRACT(EPOCH FROM clock_timestamp())::float8 - 86400",
                                   logger: logger).collect()
            }
            let listener = Task { [continuation, logger] in
                do {
                    try await connection.listen(on: Self.channel) { notifications in
                        for try await notification in notifications { continuation.yield(notification.payload) }
                    }
                } catch {
                    if !Task.isCancelled { logger.debug("cluster notifications ended", metadata: ["error": "\(error)"]) }
                }
            }
            session.withLock { $0 = Session(connection: connection, pid: pid, node: node, listener: listener) }
        } catch {
            try? await connection.close()
            throw error
        }
    }

    func heartbeat(states: JSONValue) async throws -> ClusterSnapshot {
        let current = try current()
        let renewed = try await onConnection(current.connection, "heartbeat") { [logger] in
            try await $0.query("""
                UPDATE gateway_nodes SET heartbeat_at = EXTRACT(EPOCH FROM clock_timestamp())::float8, states = \(JSONWriter.string(states))
                WHERE id = \(current.node.id) AND lock_pid = pg_backend_pid() RETURNING id
                """, logger: logger).collect().count
        }
        guard renewed == 1 else { throw StorageError(.unavailable, component: "cluster", "this node's registration was taken over") }
        return try await read(on: current.connection)
    }

    func tryLock(_ key: Int64) async throws -> Bool {
        try await value(current().connection, "lock", "SELECT pg_try_advisory_lock(\(key))", Bool.self) ?? false
    }

    func unlock(_ key: Int64) async throws {
        _ = try await value(current().connection, "unlock", "SELECT pg_advisory_unlock(\(key))", Bool.self)
    }

    func terminate(session pid: Int) async throws {
        try await pool.bounded("terminate node session") { [logger] client in
            _ = try await client.query("SELECT pg_terminate_backend(\(pid)::integer)", logger: logger).collect()
        }
    }

    func setDraining(nodeID: String, _ draining: Bool) async throws -> Bool {
        try await pool.bounded("drain node") { [logger] client in
            try await !client.query("UPDATE gateway_nodes SET draining = \(draining) WHERE id = \(nodeID) RETURNING id", logger: logger)
                .collect().isEmpty
        }
    }

    func snapshot() async throws -> ClusterSnapshot {
        try await pool.bounded("cluster snapshot") { [self] client in try await read(client) }
    }

    func notify(_ payload: String) async throws {
        guard payload.utf8.count <= 7_900 else { throw StorageError(.invalidValue, component: "cluster", "notification too large") }
        try await pool.bounded("notify") { [logger] client in
            _ = try await client.query("SELECT pg_notify(\(Self.channel), \(payload))", logger: logger).collect()
        }
    }

    func notifications() -> AsyncStream<String> { stream }

    func leave() async {
        guard let old = session.withLock({ session in defer { session = nil }; return session }) else { return }
        old.listener.cancel()
        // Closing a session the server already ended must not hold the caller up.
        // The server ends the session (and frees its locks) when the socket closes; a close that
        // does not finish within the timeout is left to finish on its own.
        let connection = old.connection
        _ = try? await Deadline.run(seconds: timeout, timeout: { StorageError(.unavailable, component: "cluster", "close timed out") }) {
            try await connection.close()
        }
    }

    // MARK: Reading the cluster

    private static let nodesQuery: PostgresQuery = """
        SELECT id, url, public_url, weight, max_cameras, draining, started_at, heartbeat_at,
               EXTRACT(EPOCH FROM clock_timestamp())::float8 - heartbeat_at, lock_pid, states
        FROM gateway_nodes ORDER BY id COLLATE "C"
        """
    private static let locksQuery: PostgresQuery = """
        SELECT pid, classid::bigint, objid::bigint FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    private func read(on connection: PostgresConnection) async throws -> ClusterSnapshot {
        let nodes = try await onConnection(connection, "nodes") { [logger] in
            try await $0.query(Self.nodesQuery, logger: logger).collect().map(Self.node)
        }
        let locks = try await onConnection(connection, "locks") { [logger] in
            try await $0.query(Self.locksQuery, logger: logger).collect().map(Self.lock)
        }
        return ClusterSnapshot(nodes: nodes, locks: Dictionary(locks, uniquingKeysWith: { first, _ in first }))
    }

    private func read(_ client: PostgresClient) async throws -> ClusterSnapshot {
        let nodes = try await client.query(Self.nodesQuery, logger: logger).collect().map(Self.node)
        let locks = try await client.query(Self.locksQuery, logger: logger).collect().map(Self.lock)
        return ClusterSnapshot(nodes: nodes, locks: Dictionary(locks, uniquingKeysWith: { first, _ in first }))
    }

    private static func node(_ row: PostgresRow) throws -> ClusterNodeRecord {
        let (id, url, publicURL, weight, maxCameras, draining, startedAt, heartbeatAt, age, pid, states)
            = try row.decode((String, String, String, Int, Int, Bool, Double, Double, Double, Int, String).self)
        return ClusterNodeRecord(id: id, url: url, publicURL: publicURL, weight: weight, maxCameras: maxCameras, draining: draining, startedAt: startedAt,
                                 heartbeatAt: heartbeatAt, heartbeatAge: age, lockSession: pid,
                                 states: (try? JSONParser.parse(Array(states.utf8))) ?? .object(JSONObject()))
    }

    private static func lock(_ row: PostgresRow) throws -> (Int64, Int) {
        let (pid, high, low) = try row.decode((Int, Int64, Int64).self)
        return (Int64(bitPattern: (UInt64(truncatingIfNeeded: high) << 32) | (UInt64(truncatingIfNeeded: low) & 0xFFFF_FFFF)), pid)
    }

    // MARK: The lock session

    private func current() throws -> Session {
        guard let current = session.withLock({ $0 }) else {
            throw StorageError(.unavailable, component: "cluster", "this node has no lock session")
        }
        return current
    }

    private func value<T: PostgresDecodable & Sendable>(_ connection: PostgresConnection, _ what: String, _ query: PostgresQuery,
                                                        _ type: T.Type) async throws -> T? {
        try await onConnection(connection, what) { [logger] in
            try await $0.query(query, logger: logger).collect().first?.decode(T.self)
        }
    }

    /// Runs `body` on the lock session within the timeout. Any failure means the session (and
    /// its locks) can no longer be trusted: the caller stops its cameras. A request on a session
    /// the server ended may never answer, and may not heed cancellation: the caller is answered
    /// at the deadline all the same, and the connection is closed under the stuck request.
    private func onConnection<T: Sendable>(_ connection: PostgresConnection, _ what: String,
                                           _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let seconds = timeout
        let address = "\(pool.configuration)"
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await Deadline.run(seconds: seconds, timeout: {
                StorageError(.unavailable, component: "cluster", "the lock session did not answer within \(seconds) s (\(what))")
            }, onTimeout: { Task { try? await connection.close() } }) { try await body(connection) })
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error as StorageError):
            throw error
        case .failure(let error as PSQLError):
            throw PostgresPool.storageError(error, address: address, component: "cluster")
        case .failure(let error):
            throw StorageError(.unavailable, component: "cluster", "\(what): \(error)")
        }
    }
}
