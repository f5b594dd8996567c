import Logging

/// What every plugin is given when it is built: who it is, where it may write, where events go.
public struct PluginContext: Sendable {
    /// The component id in logs and errors: a camera id, or the backend's type.
    public let id: String
    public var logger: Logger
    /// Absolute data directory (`server.data_dir`).
    public let dataDirectory: String
    public let events: EventBus

    public init(id: String, logger: Logger, dataDirectory: String, events: EventBus) {
        self.id = id
        self.logger = logger
        self.dataDirectory = dataDirectory
        self.events = events
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

/// An event backend: `log`, `mqtt`, `postgres`.
public protocol EventBackendAdapter: Plugin, EventBackend {
    init(configuration: Configuration, context: PluginContext) throws
}

/// Users, cameras, shares and videos. Its operations arrive with the authorization issue.
public protocol StorageBackend: Sendable {}

/// A storage backend: `sqlite`, `postgres`, `mongodb`.
public protocol StorageAdapter: Plugin, StorageBackend {
    init(configuration: Configuration, context: PluginContext) throws
}
