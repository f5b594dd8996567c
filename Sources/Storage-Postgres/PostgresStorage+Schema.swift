import PostgresNIO

extension PostgresStorage {
    /// Schema versions in order; each runs once, in a transaction, recorded in
    /// `gateway_schema_migrations`, while the migrating gateway holds `migrationLock` (gateways
    /// that start together migrate once). Never edit a released migration: add the next one.
    static let migrations: [[PostgresQuery]] = [
        // 1: users, cameras, grants, videos (the SQLite schema, with PostgreSQL's types).
        [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
                role TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)
            """,
            """
            CREATE TABLE cameras (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT, source TEXT NOT NULL, sinks TEXT NOT NULL,
                origin TEXT NOT NULL, source_trust TEXT NOT NULL DEFAULT 'restricted',
                created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX cameras_by_owner ON cameras(owner)",
            """
            CREATE TABLE grants (
                camera_id TEXT NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
                username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE ON UPDATE CASCADE,
                role TEXT NOT NULL, expires_at DOUBLE PRECISION, granted_by TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (camera_id, username))
            """,
            "CREATE INDEX grants_by_user ON grants(username)",
            """
            CREATE TABLE videos (
                id TEXT PRIMARY KEY, camera_id TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, path TEXT NOT NULL,
                start_time DOUBLE PRECISION, end_time DOUBLE PRECISION, size BIGINT NOT NULL, label TEXT, created_by TEXT,
                created_at DOUBLE PRECISION NOT NULL, details TEXT NOT NULL)
            """,
            "CREATE INDEX videos_by_camera ON videos(camera_id, created_at DESC)",
            "CREATE INDEX videos_by_owner ON videos(created_by, created_at DESC)",
            "CREATE INDEX videos_by_time ON videos(created_at DESC, id)",
        ],
        // 2: the nodes of a cluster (docs/scale-out.md): who they are and their last heartbeat.
        [
            """
            CREATE TABLE gateway_nodes (
                id TEXT PRIMARY KEY, url TEXT NOT NULL, public_url TEXT NOT NULL, weight INTEGER NOT NULL, max_cameras INTEGER NOT NULL,
                draining BOOLEAN NOT NULL DEFAULT FALSE, started_at DOUBLE PRECISION NOT NULL,
                heartbeat_at DOUBLE PRECISION NOT NULL, lock_pid INTEGER NOT NULL, states TEXT NOT NULL DEFAULT '{}')
            """,
        ],
    ]

    /// The advisory lock key of migrations ("gwschema" in ASCII).
    static let migrationLock: Int64 = 0x6777_7363_6865_6d61
}
