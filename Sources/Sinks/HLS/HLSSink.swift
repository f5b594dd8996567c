import Gateway
import Logging
import Metrics

/// The HLS sink (`type: "hls"`): on demand — it starts remuxing with the first request and
/// stops after `idle_timeout` without one — the camera becomes fMP4 segments (and LL-HLS
/// parts) in a sliding window, served by the HLS routes.
public final class HLSSink: SinkAdapter, HLSProvider {
    public static let type = "hls"
    public typealias Configuration = HLSSinkConfiguration

    let cameraID: String
    private let hub: StreamHub
    private let configuration: Configuration
    private let logger: Logger
    private let events: EventBus
    let state: HLSState
    private let activations: AsyncStream<Void>
    private let activation: AsyncStream<Void>.Continuation

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        cameraID = context.id
        self.hub = hub
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

    private func mux() async {
        let fragmentation: FragmentedMP4Writer.Fragmentation = configuration.partDuration > 0
            ? .parts(.milliseconds(Int64(configuration.partDuration * 1000))) : .perKeyframe
        await hub.withReader(name: "hls") { reader in
            var writer: FragmentedMP4Writer?
            for await event in reader {
                switch event {
                case .streams(let streams):
                    do {
                        let created = try FragmentedMP4Writer(streams: streams, fragmentation: fragmentation, component: cameraID)
                        writer = created
                        await state.begin(initSegment: created.initSegment, streams: streams)
                    } catch {
                        writer = nil
                        logger.error("camera cannot be remuxed for HLS", metadata: ["error": "\(error)"])
                    }
                case .packet(let packet):
                    do {
                        if let fragment = try writer?.append(packet) { await state.append(fragment) }
                    } catch {
                        logger.warning("HLS remux failed on a packet", metadata: ["error": "\(error)"])
                    }
                case .skipped:
                    break
                }
            }
        }
    }
}
