/// What the analytics API asks of an event backend that keeps events queryable (PostgreSQL).
public protocol EventAnalytics: Sendable {
    /// Counts per time bucket (`query.bucketSeconds`) and camera, oldest first; per camera only
    /// when `bucketSeconds` is nil.
    func counts(_ query: AnalyticsQuery) async throws -> [AnalyticsCounts]
    /// How many different users acted within the query.
    func activeUsers(_ query: AnalyticsQuery) async throws -> Int
}

public struct AnalyticsQuery: Sendable, Equatable {
    /// Unix seconds, `from` included, `to` excluded.
    public var from: Double
    public var to: Double
    public var bucketSeconds: Int?
    /// Only events about these cameras (nil: every event, cameras or not).
    public var cameras: [String]?
    /// An event name (`viewer.joined`) or a category (`clip`).
    public var type: String?
    /// Only events this user caused.
    public var actor: String?

    public init(from: Double, to: Double, bucketSeconds: Int? = nil, cameras: [String]? = nil, type: String? = nil, actor: String? = nil) {
        self.from = from
        self.to = to
        self.bucketSeconds = bucketSeconds
        self.cameras = cameras
        self.type = type
        self.actor = actor
    }
}

/// What a dashboard counts, in one bucket for one camera (nil: events about no camera, such as logins).
public struct AnalyticsCounts: Sendable, Equatable {
    /// Unix seconds of the bucket's start; nil for a total.
    public var bucket: Double?
    public var camera: String?
    public var logins = 0
    /// Viewing sessions started (`viewer.joined`: Socket.IO, WebSocket, HLS).
    public var views = 0
    /// Seconds watched, from the sessions that ended (`viewer.left`).
    public var viewingSeconds = 0.0
    public var clips = 0
    /// Recording segments closed.
    public var recordings = 0
    /// Stored videos played.
    public var playbacks = 0
    public var events = 0

    public init(bucket: Double? = nil, camera: String? = nil) {
        self.bucket = bucket
        self.camera = camera
    }
}
