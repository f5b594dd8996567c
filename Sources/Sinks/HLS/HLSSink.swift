import GatewayCore
import Logging
import Metrics
import JSON

/// The HLS sink (`type: "hls"`): on demand — it starts with the first request and stops after
/// `idle_timeout` without one — the camera's fMP4 parts (cut once per camera) become segments
/// (and LL-HLS parts) in a sliding window, served by the HLS routes.
public final class HLSSink: SinkAdapter, HLSProvider {
    public static let type = "hls"
    public typealias Configuration = HLSSinkConfiguration

    let cameraID: String
    private let fragmenter: CameraFragmenter
    private let fragmentRequest: FragmentRequest
    private let configuration: Configuration
    private let logger: Logger
    private let events: EventBus
    let state: HLSState
    private let activations: AsyncStream<Void>
    private let activation: AsyncStream<Void>.Continuation

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        cameraID = context.id
        fragmenter = hub.fragmenter
        fragmentRequest = fragmenter.request(partDuration: configuration.partDuration > 0 ? configuration.partDuration : nil)
        self.configuration = configuration
        logger = context.logger
        events = context.events
        state = HLSState(configuration: configuration, cameraID: context.id, events: context.events, metrics: context.metrics)
        (activations, activation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: HLSProvider

    public func touch(player: String) async {
        if await state.touch(player: player, resuming: false) { activation.yield() }
    }

    public func resume(player: String) async {
        if await state.touch(player: player, resuming: true) { activation.yield() }
    }

    public func stop() async { await state.requestStop() }

    public var isActive: Bool { get async { await state.isRunning } }

    public func mediaPlaylist(query: String, blockUntil: (sequence: Int, part: Int?)?) async throws -> String {
        try await state.mediaPlaylist(query: query, blockUntil: blockUntil)
    }

    public func multivariantPlaylist(query: String) async throws -> String {
        try await state.multivariantPlaylist(query: query)
    }

    public func resource(named name: String) async -> HLSResource? { await state.resource(named: name) }

    public func immediate(player: String, file: String) -> HLSImmediate? { state.shared.immediate(player: player, file: file) }

    // MARK: Running

    public func run() async throws {
        for await _ in activations {
            guard await state.start() else { continue }
            events.emit(GatewayEvent(name: "stream.started", camera: cameraID, details: JSONObject([("protocol", .string("hls"))])))
            logger.info("HLS muxer started")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.mux() }
                group.addTask { await self.state.waitUntilIdle() }
                _ = await group.next()
                group.cancelAll()
            }
            await state.stopped()
            logger.info("HLS muxer stopped")
            events.emit(GatewayEvent(name: "stream.stopped", camera: cameraID, details: JSONObject([("protocol", .string("hls"))])))
        }
    }

    /// Hands the camera's parts (cut once, by its `CameraFragmenter`) to the window while
    /// players play: a tap on the camera's fragments, so each part is listed on the camera's
    /// thread as it is cut, with no task woken; the tap holds an on-demand camera's demand.
    private func mux() async {
        let state = self.state
        let tap = fragmenter.fragments.tap(name: "hls") { events in
            for event in events {
                switch event {
                case .initSegment(let initSegment):
                    if let streams = initSegment.streams { state.begin(initSegment: initSegment.bytes, streams: streams) }
                case .fragment(let fragment):
                    state.append(fragment)
                case .skipped:
                    break
                }
            }
        }
        defer { fragmenter.fragments.untap(tap) }
        await StopSignal().wait()  // until the muxer stops (cancelled)
    }
}
