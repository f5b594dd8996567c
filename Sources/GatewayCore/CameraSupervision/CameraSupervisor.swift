import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import JSON

/// Runs one camera's source for the life of the gateway: restarts it with exponential backoff
/// and jitter whenever it fails (the first connect included), and keeps its state observable.
/// Between the source and the hub it repairs timestamps (continuous across reconnects) and
/// transcodes what browsers cannot play. An on-demand source runs only while there is demand.
public final class CameraSupervisor: Service, Sendable {
    public struct Policy: Sendable {
        public var backoff = Backoff()
        /// A session that stayed up this long resets the backoff.
        public var stableAfter: Duration = .seconds(30)
        public init() {}
    }

    public let cameraID: String
    private let source: any CameraSource
    private let hub: StreamHub
    private let events: EventBus
    private let logger: Logger
    private let policy: Policy
    private let options: SourceOptions
    /// Sinks that want the source's own packets, before the transcoder.
    private let taps: [any SourceTap]
    /// Lives across sessions, so that a reconnect continues the camera's timeline.
    private let repair = RepairState()
    private let clock: any Clock<Duration>
    private let status = Mutex(CameraStatus())
    private let stateGauges: [CameraState: Gauge]
    private let reconnectCounter: Counter
    private let packetsLostCounter: Counter

    public init(cameraID: String, source: any CameraSource, hub: StreamHub, events: EventBus, logger: Logger,
                policy: Policy = Policy(), options: SourceOptions = SourceOptions(), taps: [any SourceTap] = [],
                clock: any Clock<Duration> = ContinuousClock(), metrics: any MetricsFactory = MetricsSystem.factory) {
        self.cameraID = cameraID
        self.options = options
        self.taps = taps
        self.source = source
        self.hub = hub
        self.events = events
        self.policy = policy
        self.clock = clock
        var logger = logger
        logger[metadataKey: "camera"] = "\(cameraID)"
        self.logger = logger
        stateGauges = Dictionary(uniqueKeysWithValues: CameraState.allCases.map {
            ($0, Gauge(label: MetricName.cameraState, dimensions: [("camera", cameraID), ("state", $0.rawValue)], factory: metrics))
        })
        reconnectCounter = Counter(label: MetricName.cameraReconnects, dimensions: [("camera", cameraID)], factory: metrics)
        packetsLostCounter = Counter(label: MetricName.cameraPacketsLost, dimensions: [("camera", cameraID)], factory: metrics)
        updateGauges(.starting)
    }

    public var currentStatus: CameraStatus { status.withLock { $0 } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.supervise()
        }
        transition(to: .offline, reason: "stopped")
    }

    private func supervise() async {
        var backoff = policy.backoff
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            if options.onDemand, !hub.demand.isDemanded {
                transition(to: .idle, reason: "on demand: nobody is watching")
                await hub.demand.waitForDemand()
                if Task.isCancelled { return }
            }
            let transcoder = TranscodingOutput(downstream: hub, options: options.transcode, component: cameraID, logger: logger)
            let session = SessionOutput(repair: repair, taps: taps, next: transcoder, lossCounter: packetsLostCounter) { [self] in transition(to: .online, reason: "receiving packets") }
            let elapsed = stopwatch(clock)
            do {
                if try await runSession(session) == .idle {
                    hub.endSession()
                    backoff.reset()
                    continue
                }
                if Task.isCancelled { return }
                transition(to: .offline, reason: "end of stream")
                return
            } catch {
                if Task.isCancelled { return }
                let message = URLRedaction.redactAll(in: "\(error)")
                if session.wentOnline, elapsed() >= policy.stableAfter { backoff.reset() }
                let delay = backoff.nextDelay(using: &random)
                let publicMessage = PublicSourceError.describe(error)
                status.withLock { $0.lastError = message; $0.lastPublicError = publicMessage; $0.reconnects += 1 }
                reconnectCounter.increment()
                logger.warning("source failed; retrying", metadata: ["error": "\(message)", "retry_in": "\(delay)"])
                transition(to: .reconnecting, reason: message, publicReason: publicMessage)
                do { try await clock.sleep(for: delay) } catch { return }
            }
        }
    }

    private enum SessionEnd { case ended, idle }

    /// Runs the source once; an on-demand one also stops when nobody has wanted it for its idle timeout.
    private func runSession(_ output: SessionOutput) async throws -> SessionEnd {
        guard options.onDemand else {
            try await source.run(output: output)
            return .ended
        }
        return try await withThrowingTaskGroup(of: SessionEnd.self) { group in
            group.addTask { try await self.source.run(output: output); return .ended }
            group.addTask {
                try await self.hub.demand.waitForIdle(timeout: .milliseconds(Int64(self.options.idleTimeout * 1000)))
                return .idle
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .ended
        }
    }

    /// Time since the call, on the supervisor's clock (a function so the clock can stay existential).
    private func stopwatch<C: Clock>(_ clock: C) -> () -> Duration where C.Duration == Duration {
        let start = clock.now
        return { start.duration(to: clock.now) }
    }

    /// `publicReason` is what users who are not admins see (the reason itself when it says
    /// nothing about the source's destination).
    private func transition(to state: CameraState, reason: String, publicReason: String? = nil) {
        let previous = status.withLock { status -> CameraState? in
            guard status.state != state else { return nil }
            defer { status.state = state; status.since = WallClock.now() }
            return status.state
        }
        guard let previous else { return }
        updateGauges(state)
        logger.info("camera \(state.rawValue)", metadata: ["reason": "\(reason)"])
        events.emit(GatewayEvent(name: "camera.state_changed", camera: cameraID, details: JSONObject([
            ("from", .string(previous.rawValue)), ("to", .string(state.rawValue)), ("reason", .string(reason)),
            ("public_reason", .string(publicReason ?? reason)),
        ])))
    }

    private func updateGauges(_ state: CameraState) {
        for (candidate, gauge) in stateGauges { gauge.record(candidate == state ? 1 : 0) }
    }
}

/// One session's way from the source to the hub: repairs timestamps, then the transcoder;
/// notices the first packet; counts what the network lost.
private final class SessionOutput: SourceOutput, @unchecked Sendable {
    private let repair: RepairState
    private let lossCounter: Counter
    private let taps: [any SourceTap]
    private let next: any SourceOutput
    private let onFirstPacket: @Sendable () -> Void
    private let online = Atomic<Bool>(false)

    init(repair: RepairState, taps: [any SourceTap], next: any SourceOutput, lossCounter: Counter,
         onFirstPacket: @escaping @Sendable () -> Void) {
        self.repair = repair
        self.lossCounter = lossCounter
        self.taps = taps
        self.next = next
        self.onFirstPacket = onFirstPacket
    }

    var wentOnline: Bool { online.load(ordering: .relaxed) }

    func begin(_ streams: StreamSet) throws {
        let now = MonotonicTime.nanoseconds()
        repair.state.withLock { $0.begin(streams, now: now) }
        for tap in taps { tap.tapBegin(streams) }
        try next.begin(streams)
    }

    func publish(_ packet: MediaPacket) throws {
        try next.publish(prepare(packet, now: MonotonicTime.nanoseconds()))
    }

    func publish(contentsOf packets: [MediaPacket]) throws {
        let now = MonotonicTime.nanoseconds()
        try next.publish(contentsOf: packets.map { prepare($0, now: now) })
    }

    private func prepare(_ packet: MediaPacket, now: Int64) -> MediaPacket {
        if !online.load(ordering: .relaxed), online.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            onFirstPacket()
        }
        let repaired = repair.state.withLock { $0.repair(packet, now: now) }
        for tap in taps { tap.tap(repaired) }
        return repaired
    }

    func lost(packets: Int) {
        lossCounter.increment(by: packets)
    }

    func lateness(seconds: Double) {
        next.lateness(seconds: seconds)
    }
}

/// A camera's timestamp repair, shared by its successive sessions.
private final class RepairState: Sendable {
    let state = Mutex(TimestampRepair())
}
