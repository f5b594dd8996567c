import Logging
import Metrics
import Synchronization

/// A camera's fMP4, cut once: one tap on the stream hub (it cuts on the camera's thread), one `FragmentedMP4Writer` per
/// source session, and a `FragmentHub` that hands the init segment and every part to each fMP4
/// consumer — WebSocket and Socket.IO viewers, HLS, the recorder. Nothing remuxes a second time
/// what this cut (DESIGN: "fMP4 is the shared currency of the sinks").
///
/// Consumers `request` it when they are built, each with the longest part it can take; parts
/// are cut at the shortest of those (or at every keyframe when nobody asks for parts), always
/// at a frame, flagged independent when they start with a keyframe. The camera's pipeline runs
/// it (`run()`) when anyone asked. Reading the hub does not hold the camera's demand; the
/// consumers' subscriptions do.
public final class CameraFragmenter: Sendable {
    public let fragments: FragmentHub
    private let hub: StreamHub
    /// The consumers' requests, held weakly: a sink that is gone (replaced by a reload) no longer
    /// counts.
    private let requests = Mutex<[WeakRequest]>([])
    private let fragmentsCounter: Counter
    private let fragmentersGauge: Gauge

    init(hub: StreamHub, metrics: any MetricsFactory) {
        self.hub = hub
        fragments = FragmentHub(cameraID: hub.cameraID, metrics: metrics, demand: hub.demand)
        fragmentsCounter = Counter(label: MetricName.cameraFragments, dimensions: [("camera", hub.cameraID)], factory: metrics)
        fragmentersGauge = Gauge(label: MetricName.cameraFragmenters, dimensions: [("camera", hub.cameraID)], factory: metrics)
    }

    /// A consumer will read the fragments; `partDuration`: the longest part it can take (seconds),
    /// nil when whole GOPs are fine. The consumer keeps the returned request while it exists.
    public func request(partDuration: Double?) -> FragmentRequest {
        let request = FragmentRequest(partDuration: partDuration.flatMap { $0 > 0 ? $0 : nil })
        requests.withLock { requests in
            requests.removeAll { $0.request == nil }
            requests.append(WeakRequest(request: request))
        }
        return request
    }

    public var isRequested: Bool { requests.withLock { $0.contains { $0.request != nil } } }

    /// How the parts are cut: at the shortest requested length, or per keyframe. Read at each
    /// source session, so a reloaded sink's part length applies from the next one.
    public var fragmentation: FragmentedMP4Writer.Fragmentation {
        guard let shortest = requests.withLock({ $0.compactMap { $0.request?.partDuration }.min() }) else { return .perKeyframe }
        return .parts(.milliseconds(Int64((shortest * 1000).rounded())))
    }

    /// The writer of the current source session; the run loop and `cutNow` take turns on it.
    private final class Cutter: @unchecked Sendable {
        var writer: FragmentedMP4Writer?
    }

    private let cutter = Mutex(Cutter())

    /// Cuts until cancelled: on the camera's own thread, as each batch of packets is published
    /// (a tap on the hub, not a reader). A reader cost a task wake-up per batch, a queue and
    /// the hub flusher's attention; the cutting itself is a few microseconds a packet.
    public func run(logger: Logger) async {
        fragmentersGauge.record(1)
        defer { fragmentersGauge.record(0) }
        let tap = hub.tap(name: "fragmenter") { [self] events in
            cutter.withLock { cutter in
                for event in events { handle(event, cutter: cutter, logger: logger) }
            }
        }
        defer { hub.untap(tap) }
        await StopSignal().wait()
    }

    private func handle(_ event: HubEvent, cutter: Cutter, logger: Logger) {
        switch event {
        case .streams(let streams):
            // The last part of the session that ended goes out before the new init segment.
            if let last = try? cutter.writer?.finish() { publish(last) }
            do {
                let created = try FragmentedMP4Writer(streams: streams, fragmentation: fragmentation, component: hub.cameraID)
                cutter.writer = created
                fragments.begin(MP4InitSegment(bytes: created.initSegment, streams: streams))
            } catch {
                cutter.writer = nil
                logger.error("camera cannot be remuxed to fMP4", metadata: ["error": "\(error)"])
            }
        case .packet(let packet):
            do {
                if let fragment = try cutter.writer?.append(packet) { publish(fragment) }
            } catch {
                logger.warning("fMP4 remux failed on a packet", metadata: ["error": "\(error)"])
            }
        case .skipped:
            break
        }
    }

    /// Ends the part in progress now (a consumer that stops — the recorder closing its file —
    /// wants what has arrived so far): it goes to every consumer, and is returned.
    public func cutNow() -> MP4Fragment? {
        cutter.withLock { cutter in
            guard let fragment = try? cutter.writer?.finish() else { return nil }
            publish(fragment)
            return fragment
        }
    }

    /// The source disconnected on purpose (an idle on-demand camera): the part in progress and
    /// the cached GOP are dropped, so the next consumer starts with the next session, not with
    /// a stale picture.
    func endSession() {
        cutter.withLock { cutter in
            cutter.writer = nil
            fragments.endSession()
        }
    }

    private func publish(_ fragment: MP4Fragment) {
        fragmentsCounter.increment()
        fragments.publish(fragment)
    }
}

/// A consumer's claim on the camera's fragmenter, with the longest part it can take.
public final class FragmentRequest: Sendable {
    public let partDuration: Double?
    init(partDuration: Double?) { self.partDuration = partDuration }
}

private struct WeakRequest: Sendable {
    weak var request: FragmentRequest?
}
