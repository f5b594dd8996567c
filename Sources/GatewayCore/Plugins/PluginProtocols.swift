import Logging
import Metrics
import Synchronization

/// What every plugin is given when it is built: who it is, where it may write, where events go.
public struct PluginContext: Sendable {
    /// The component id in logs and errors: a camera id, or the backend's type.
    public let id: String
    public var logger: Logger
    /// Absolute data directory (`server.data_dir`).
    public let dataDirectory: String
    public let events: EventBus
    /// Where plugins make their metrics (the gateway's Prometheus registry).
    public let metrics: any MetricsFactory
    /// The storage backend, for sinks that index what they write (clips, recordings).
    public let storage: (any StorageBackend)?
    /// For a source a user (not an admin) chose: where it may connect, enforced at each connect.
    /// Nil for sources chosen by an admin or plugins.json.
    public var egress: SourceEgress?
    /// What event backends may ask of the gateway (set once the server is assembled).
    public let commands: GatewayCommandsBox

    public init(id: String, logger: Logger, dataDirectory: String, events: EventBus, metrics: any MetricsFactory = MetricsSystem.factory,
                storage: (any StorageBackend)? = nil, commands: GatewayCommandsBox = GatewayCommandsBox()) {
        self.commands = commands
        self.id = id
        self.logger = logger
        self.dataDirectory = dataDirectory
        self.events = events
        self.metrics = metrics
        self.storage = storage
    }
}

/// A plugin: a `type` name in plugins.json and the options beside it.
public protocol Plugin: Sendable {
    associatedtype Configuration: Decodable & Sendable
    static var type: String { get }
}

/// Reads one camera.
public protocol CameraSource: Sendable {
    /// Connects, then publishes into `output` until the stream ends (returns) or fails (throws).
    /// Cancelling the task stops it promptly, also during a blocking read.
    func run(output: any SourceOutput) async throws
}

/// A source adapter: `usb`, `rtsp`, `http`, `file`.
public protocol SourceAdapter: Plugin, CameraSource {
    init(configuration: Configuration, context: PluginContext) throws
}

/// Consumes a camera's stream hub until cancelled.
public protocol CameraSink: Sendable {
    func run() async throws
}

/// A sink: `websocket`, `hls`, `recorder`, `clipper`.
public protocol SinkAdapter: Plugin, CameraSink {
    init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws
}

/// Where gateway events go.
public protocol EventBackend: Sendable {
    func publish(_ event: GatewayEvent) async throws
}

/// A backend that delivers events to another server (MQTT, PostgreSQL). The bus keeps its
/// events in a durable spool under `data_dir/spool/` and hands them over in order, in batches:
/// a batch leaves the spool once `deliver` returns, and is retried with backoff while it throws.
/// Delivery is therefore at least once, in order; `GatewayEvent.id` tells duplicates apart.
public protocol RemoteEventBackend: EventBackend {
    /// Most events per `deliver` call.
    var batchLimit: Int { get }
    /// How long to gather events for a batch smaller than `batchLimit` (0: deliver at once).
    var batchLinger: Duration { get }
    func deliver(_ events: [GatewayEvent]) async throws
    /// Holds the connection while the gateway runs; returns when cancelled, after saying goodbye.
    func run() async throws
}

extension RemoteEventBackend {
    public func publish(_ event: GatewayEvent) async throws { try await deliver([event]) }
}

/// An event backend: `log`, `mqtt`, `postgres`.
public protocol EventBackendAdapter: Plugin, EventBackend {
    init(configuration: Configuration, context: PluginContext) throws
}

/// Users, cameras, grants and videos. Every backend passes the same conformance suite
/// (`Tests/GatewayTests/Storage/StorageConformance.swift`). Uniqueness violations throw
/// `StorageError(.conflict)`; lookups of what does not exist return nil or false.
public protocol StorageBackend: Sendable {
    /// Creates or upgrades the schema; called once at start, before anything else.
    func migrate() async throws
    func close() async

    func insertUser(_ user: UserRecord) async throws
    func user(named username: String) async throws -> UserRecord?
    func user(id: String) async throws -> UserRecord?
    func users() async throws -> [UserRecord]
    func updatePasswordHash(username: String, hash: String) async throws
    /// Sets a user's role; false when there is no such user.
    func updateUserRole(username: String, role: UserRole) async throws -> Bool

    /// Inserts or replaces by id.
    func upsertCamera(_ camera: CameraRecord) async throws
    func camera(id: String) async throws -> CameraRecord?
    func cameras() async throws -> [CameraRecord]
    /// Deletes the camera and its grants; false when it did not exist.
    func deleteCamera(id: String) async throws -> Bool

    /// Inserts or replaces the grant of (camera, username).
    func putGrant(_ grant: GrantRecord) async throws
    func grant(cameraID: String, username: String) async throws -> GrantRecord?
    func grants(cameraID: String) async throws -> [GrantRecord]
    func grants(username: String) async throws -> [GrantRecord]
    func deleteGrant(cameraID: String, username: String) async throws -> Bool

    func insertVideo(_ video: VideoRecord) async throws
    func updateVideo(_ video: VideoRecord) async throws
    func video(id: String) async throws -> VideoRecord?
    /// The page of `query`, newest first, and the total count matching it.
    func videos(_ query: VideoQuery) async throws -> (videos: [VideoRecord], total: Int)
    func deleteVideo(id: String) async throws -> Bool
    /// The bytes of every video of `kind` that `createdBy` made (the upload quota).
    func storedBytes(createdBy: String, kind: VideoKind) async throws -> Int
}

/// A storage backend: `sqlite`, `postgres`, `mongodb`.
public protocol StorageAdapter: Plugin, StorageBackend {
    init(configuration: Configuration, context: PluginContext) throws
}

/// What a remote event backend may ask of the gateway on behalf of a configured service user
/// (MQTT commands). The access decision is the one every other front end gets.
public protocol GatewayCommands: Sendable {
    /// Triggers a clip on the camera as `username` (operator or better); returns the clip's id.
    func triggerClip(cameraID: String, as username: String, pre: Double?, post: Double?, label: String?) async throws -> String
    /// Switches recording (nil toggles) as `username`; returns whether it records now.
    func setRecording(cameraID: String, enabled: Bool?, as username: String) async throws -> Bool
}

/// Where plugins find the gateway's commands once the server is assembled (the event backends
/// are built before it).
public final class GatewayCommandsBox: Sendable {
    private let value = Mutex<(any GatewayCommands)?>(nil)
    public init() {}
    public var commands: (any GatewayCommands)? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
