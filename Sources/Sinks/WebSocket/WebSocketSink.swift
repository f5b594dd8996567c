import Gateway
import Logging

/// The WebSocket chunk sink (`type: "websocket"`): remuxes the camera once into fMP4 and fans
/// the fragments out to every viewer (Socket.IO `watch`, `/ws/cameras/{id}`), each with its own
/// bounded queue.
public struct WebSocketSink: SinkAdapter, LiveFragmentProvider {
    public static let type = "websocket"
    public typealias Configuration = WebSocketSinkConfiguration

    private let hub: StreamHub
    private let fragments: FragmentHub
    private let configuration: Configuration
    private let logger: Logger

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        self.configuration = configuration
        self.hub = hub
        fragments = FragmentHub(cameraID: context.id, metrics: context.metrics, demand: hub.demand)
        logger = context.logger
    }

    public var viewerLimits: ViewerLimits {
        ViewerLimits(maximumBuffered: configuration.viewerMaxBufferBytes, stallLimit: .milliseconds(Int64(configuration.viewerStallSeconds * 1000)))
    }

    public func subscribe(viewer: String) -> HubReader<FragmentEvent> {
        fragments.subscribe(name: viewer, capacity: configuration.viewerQueueFragments)
    }

    public func run() async throws {
        // Viewers hold the camera's demand; this standing reader does not.
        try await hub.withReader(name: "websocket-sink", demands: false) { reader in
            var writer: FragmentedMP4Writer?
            for await event in reader {
                switch event {
                case .streams(let streams):
                    do {
                        let created = try FragmentedMP4Writer(streams: streams, component: hub.cameraID)
                        writer = created
                        fragments.begin(MP4InitSegment(bytes: created.initSegment, codecs: streams.codecs, generation: streams.generation))
                    } catch {
                        writer = nil
                        logger.error("camera cannot be remuxed to fMP4", metadata: ["error": "\(error)"])
                    }
                case .packet(let packet):
                    if let fragment = try writer?.append(packet) { fragments.publish(fragment) }
                case .skipped:
                    break
                }
            }
        }
    }
}
