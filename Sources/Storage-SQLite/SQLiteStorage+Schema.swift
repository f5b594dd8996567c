extension SQLiteStorage {
    /// Schema versions in order; each runs once, in a transaction, recorded in `schema_migrations`.
    /// Never edit a released migration: add the next one.
    static let migrations: [[String]] = [
        // 1: users, cameras, grants, videos.
        [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
                role TEXT NOT NULL, created_at REAL NOT NULL)
            """,
            """
            CREATE TABLE cameras (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT, source TEXT NOT NULL, sinks TEXT NOT NULL,
                origin TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL)
            """,
            """
            CREATE TABLE grants (
                camera_id TEXT NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
                username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
                role TEXT NOT NULL, expires_at REAL, granted_by TEXT NOT NULL, created_at REAL NOT NULL,
                PRIMARY KEY (camera_id, username))
            """,
            "CREATE INDEX grants_by_user ON grants(username)",
            """
            CREATE TABLE videos (
                id TEXT PRIMARY KEY, camera_id TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, path TEXT NOT NULL,
                start_time REAL, end_time REAL, size INTEGER NOT NULL, label TEXT, created_by TEXT,
                created_at REAL NOT NULL, details TEXT NOT NULL)
            """,
            "CREATE INDEX videos_by_camera ON videos(camera_id, created_at)",
        ],
        // 2: who chose each camera's source (cameras stored before are treated as a user's).
        [
            "ALTER TABLE cameras ADD COLUMN source_trust TEXT NOT NULL DEFAULT 'restricted'",
        ],
    ]
}
