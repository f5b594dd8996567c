import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs one camera's source for the life of the gateway: restarts it with exponential backoff
/// and jitter whenever it fails (the first connect included), and keeps its state observable.
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
    private let clock: any Clock<Duration>
    private let status = Mutex(CameraStatus())
    private let stateGauges: [CameraState: Gauge]
    private let reconnectCounter: Counter

    public init(cameraID: String, source: any CameraSource, hub: StreamHub, events: EventBus, logger: Logger,
                policy: Policy = Policy(), clock: any Clock<Duration> = ContinuousClock(),
                metrics: any MetricsFactory = MetricsSystem.factory) {
        self.cameraID = cameraID
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
            let session = SessionOutput(hub: hub) { [self] in transition(to: .online, reason: "receiving packets") }
            let elapsed = stopwatch(clock)
            do {
                try await source.run(output: session)
                if Task.isCancelled { return }
                transition(to: .offline, reason: "end of stream")
                return
            } catch let failure as PermanentSourceFailure {
                status.withLock { $0.lastError = failure.message }
                logger.error("source cannot run", metadata: ["error": "\(failure.message)"])
                transition(to: .offline, reason: failure.message)
                return
            } catch {
                if Task.isCancelled { return }
                let message = URLRedaction.redactAll(in: "\(error)")
                if session.wentOnline, elapsed() >= policy.stableAfter { backoff.reset() }
                let delay = backoff.nextDelay(using: &random)
                status.withLock { $0.lastError = message; $0.reconnects += 1 }
                reconnectCounter.increment()
                logger.warning("source failed; retrying", metadata: ["error": "\(message)", "retry_in": "\(delay)"])
                transition(to: .reconnecting, reason: message)
                do { try await clock.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Time since the call, on the supervisor's clock (a function so the clock can stay existential).
    private func stopwatch<C: Clock>(_ clock: C) -> () -> Duration where C.Duration == Duration {
        let start = clock.now
        return { start.duration(to: clock.now) }
    }

    private func transition(to state: CameraState, reason: String) {
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
        ])))
    }

    private func updateGauges(_ state: CameraState) {
        for (candidate, gauge) in stateGauges { gauge.record(candidate == state ? 1 : 0) }
    }
}

/// Passes a session's output to the hub and notices its first packet.
private final class SessionOutput: SourceOutput, @unchecked Sendable {
    private let hub: StreamHub
    private let onFirstPacket: @Sendable () -> Void
    private let online = Atomic<Bool>(false)

    init(hub: StreamHub, onFirstPacket: @escaping @Sendable () -> Void) {
        self.hub = hub
        self.onFirstPacket = onFirstPacket
    }

    var wentOnline: Bool { online.load(ordering: .relaxed) }

    func begin(_ streams: StreamSet) { hub.begin(streams) }

    func publish(_ packet: MediaPacket) {
        if !online.load(ordering: .relaxed), online.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            onFirstPacket()
        }
        hub.publish(packet)
    }
}
