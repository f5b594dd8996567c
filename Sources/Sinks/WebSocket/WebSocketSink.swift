import GatewayCore

/// The WebSocket chunk sink (`type: "websocket"`): hands the camera's fMP4 (cut once, by the
/// camera's `CameraFragmenter`) to every viewer (Socket.IO `watch`, `/ws/cameras/{id}`), each
/// with its own bounded queue.
public struct WebSocketSink: SinkAdapter, LiveFragmentProvider {
    public static let type = "websocket"
    public typealias Configuration = WebSocketSinkConfiguration

    private let fragments: FragmentHub
    private let fragmentRequest: FragmentRequest
    private let configuration: Configuration

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        self.configuration = configuration
        fragmentRequest = hub.fragmenter.request(partDuration: configuration.partDuration > 0 ? configuration.partDuration : nil)
        fragments = hub.fragmenter.fragments
    }

    public var viewerLimits: ViewerLimits {
        ViewerLimits(maximumBuffered: configuration.viewerMaxBufferBytes, stallLimit: .milliseconds(Int64(configuration.viewerStallSeconds * 1000)))
    }

    public func subscribe(viewer: String) -> HubReader<FragmentEvent> {
        fragments.subscribe(name: viewer, capacity: configuration.viewerQueueFragments)
    }

    /// Nothing runs here: the camera's fragmenter cuts, viewers subscribe.
    public func run() async throws {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
