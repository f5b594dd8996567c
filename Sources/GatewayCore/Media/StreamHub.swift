import DequeModule
import Metrics
import Synchronization

/// Where a source delivers what it demuxes. The stream hub is the one implementation the
/// gateway uses; tests may record into another.
public protocol SourceOutput: Sendable {
    /// A session begins (connect, reconnect, reopened file) with these streams.
    func begin(_ streams: StreamSet) throws
    /// Throws when the session cannot go on (a transcoder that cannot encode): the source ends
    /// the session with that error and its supervisor retries.
    func publish(_ packet: MediaPacket) throws
    /// The network lost `packets` packets of this session (RTP sequence gaps).
    func lost(packets: Int)
    /// A paced source lets packets out `seconds` after their time (reported when it changes):
    /// a source that cannot keep real time.
    func lateness(seconds: Double)
    /// Packets that leave together (a paced source's batch): the hub's readers are woken once
    /// for all of them, after the last.
    func publish(contentsOf packets: [MediaPacket]) throws
}

extension SourceOutput {
    public func lost(packets: Int) {}
    public func lateness(seconds: Double) {}
    public func publish(contentsOf packets: [MediaPacket]) throws {
        for packet in packets { try publish(packet) }
    }
}

/// Per-camera fan-out: one demux feeds any number of readers. Keeps the current GOP so a new
/// reader starts on a keyframe at once; each reader has its own bounded queue.
public final class StreamHub: SourceOutput, Sendable {
    public struct Configuration: Sendable {
        /// Packets a reader may fall behind before it skips to the next keyframe.
        public var readerCapacity: Int = 1024
        /// A GOP larger than this is not cached (a camera that never sends keyframes).
        public var maximumGOPBytes: Int = 64 << 20
        /// Window over which bitrate and frame rate are measured.
        public var measurementWindowSeconds: Int = 5
        public init() {}
    }

    private struct Arrival { var time: Int64; var bytes: Int; var isVideo: Bool }

    private struct State {
        var streams: StreamSet?
        var generation = 0
        var gop = Deque<MediaPacket>()
        var gopBytes = 0
        var readers: [ObjectIdentifier: PacketReader] = [:] {
            didSet { readerList = Array(readers.values) }
        }
        /// `readers` as an array, made when it changes rather than per packet.
        var readerList: [PacketReader] = []
        var holds: [ObjectIdentifier: DemandHold] = [:]
        /// The pipeline stopped (`closeAll`).
        var closed = false
        var packets = 0
        var bytes = 0
        var keyframes = 0
        /// Packets of the last `measurementWindowSeconds`, with their sums.
        var window = Deque<Arrival>()
        var windowBytes = 0
        var windowFrames = 0
        var firstPacketAt: Int64?
        var lastPacketAt: Double?
        /// How late the source lets packets out (paced sources), and the most it has been.
        var sourceLateness = 0.0
        var maximumLag = 0.0

        mutating func prune(before limit: Int64) {
            while let first = window.first, first.time < limit {
                window.removeFirst()
                windowBytes -= first.bytes
                windowFrames -= first.isVideo ? 1 : 0
            }
        }
    }

    public let cameraID: String
    /// Who wants this camera's stream; an on-demand source runs only while someone does.
    public let demand: SourceDemand
    private let configuration: Configuration
    private var windowNanoseconds: Int64 { Int64(configuration.measurementWindowSeconds) * 1_000_000_000 }
    private let state = Mutex(State())
    /// Code that runs on the publishing thread (`tap`), in order.
    private let taps = HubTaps<HubEvent>()
    private let metricsFactory: any MetricsFactory
    private let fragmenterSlot = Mutex<CameraFragmenter?>(nil)
    private let packetsCounter: Counter
    private let bytesCounter: Counter
    private let keyframesCounter: Counter

    /// `demand`: shared with another hub of the same camera (the MJPEG passthrough's).
    public init(cameraID: String, configuration: Configuration = Configuration(), metrics: any MetricsFactory = MetricsSystem.factory,
                demand: SourceDemand = SourceDemand()) {
        self.cameraID = cameraID
        self.demand = demand
        self.configuration = configuration
        metricsFactory = metrics
        let dimensions = [("camera", cameraID)]
        packetsCounter = Counter(label: MetricName.hubPackets, dimensions: dimensions, factory: metrics)
        bytesCounter = Counter(label: MetricName.hubBytes, dimensions: dimensions, factory: metrics)
        keyframesCounter = Counter(label: MetricName.hubKeyframes, dimensions: dimensions, factory: metrics)
    }

    public func begin(_ streams: StreamSet) {
        taps.publish { _ in
            let session = state.withLock { state in
                state.generation += 1
                let session = streams.withGeneration(state.generation)
                state.streams = session
                state.gop.removeAll()
                state.gopBytes = 0
                for reader in state.readers.values {
                    reader.enqueueControl(.streams(session), requireKeyframe: session.video != nil)
                }
                return session
            }
            return [.streams(session)]
        }
    }

    public func publish(_ packet: MediaPacket) {
        taps.publish { tapped in
            guard let event = publish(packet, now: MonotonicTime.nanoseconds(), wake: true), tapped else { return [] }
            return [event]
        }
    }

    public func publish(contentsOf packets: [MediaPacket]) {
        guard !packets.isEmpty else { return }
        let now = MonotonicTime.nanoseconds()
        taps.publish { tapped in
            var events: [HubEvent] = []
            if tapped { events.reserveCapacity(packets.count) }
            for packet in packets {
                if let event = publish(packet, now: now, wake: false), tapped { events.append(event) }
            }
            return events
        }
        for reader in state.withLock({ $0.readerList }) { reader.wake(now: now) }
    }

    /// `wake`: false inside a batch (the readers are woken after its last packet). The event
    /// the readers got (nil: no session yet).
    @discardableResult
    private func publish(_ packet: MediaPacket, now: Int64, wake: Bool) -> HubEvent? {
        var packet = packet
        packet.arrival = now
        let delivery = state.withLock { state -> (readers: [PacketReader], isSyncPoint: Bool)? in
            guard let streams = state.streams else { return nil }
            let hasVideo = streams.video != nil
            let isSyncPoint = hasVideo ? packet.isVideoKeyframe : true
            if hasVideo {
                if packet.isVideoKeyframe {
                    state.gop.removeAll(keepingCapacity: true)
                    state.gopBytes = 0
                }
                if !state.gop.isEmpty || packet.isVideoKeyframe {
                    state.gop.append(packet)
                    state.gopBytes += packet.size
                    if state.gopBytes > configuration.maximumGOPBytes {
                        state.gop.removeAll()
                        state.gopBytes = 0
                    }
                }
            }
            state.packets += 1
            state.bytes += packet.size
            if packet.isVideoKeyframe { state.keyframes += 1 }
            state.lastPacketAt = Double(now) / 1e9
            if state.firstPacketAt == nil { state.firstPacketAt = now }
            state.window.append(Arrival(time: now, bytes: packet.size, isVideo: packet.kind == .video))
            state.windowBytes += packet.size
            state.windowFrames += packet.kind == .video ? 1 : 0
            state.prune(before: now - windowNanoseconds)
            return (state.readerList, isSyncPoint)
        }
        guard let delivery else { return nil }
        packetsCounter.increment()
        bytesCounter.increment(by: packet.size)
        if packet.isVideoKeyframe { keyframesCounter.increment() }
        let event = HubEvent.packet(packet)
        for reader in delivery.readers { reader.offer(event, isSyncPoint: delivery.isSyncPoint, now: now, wake: wake) }
        return event
    }

    /// Runs `handle` on the publishing thread for every event from now on, in order — first the
    /// current streams and the cached GOP, then each batch as it is published — until `untap`
    /// (see `HubTap`). `demands`: it keeps an on-demand source connected, as a reader would.
    public func tap(name: String, demands: Bool = false, _ handle: @escaping @Sendable ([HubEvent]) -> Void) -> HubTap<HubEvent> {
        let tap = HubTap(name: name, hold: demands ? demand.hold() : nil, handle: handle)
        taps.add(tap) {
            let (streams, gop) = state.withLock { state in (state.closed ? nil : state.streams, state.gop) }
            guard let streams else { return [] }
            return [.streams(streams)] + gop.map { .packet($0) }
        }
        return tap
    }

    public func untap(_ tap: HubTap<HubEvent>) { taps.remove(tap) }

    public var tapNames: [String] { taps.names }

    public func lateness(seconds: Double) {
        state.withLock { state in
            state.sourceLateness = seconds
            state.maximumLag = max(state.maximumLag, seconds)
        }
    }

    /// The source disconnected on purpose (an idle on-demand camera): forget the cached GOP, so
    /// the next viewer does not start on a stale picture.
    public func endSession() {
        state.withLock { state in
            state.gop.removeAll()
            state.gopBytes = 0
        }
        fragmenterSlot.withLock { $0 }?.endSession()
    }

    /// Ends every packet reader and every fragment reader (`FragmentHub.closeAll`): the
    /// camera's pipeline stopped. A reader that subscribes later is ended at once.
    public func closeAll() {
        let readers = state.withLock { state in
            state.closed = true
            return state.readerList
        }
        for reader in readers { reader.close() }
        fragmenterSlot.withLock { $0 }?.fragments.closeAll()
    }

    /// A new reader. It first receives the current streams and the cached GOP, so it can start
    /// decoding at once. Close it when done. A reader that `demands` keeps an on-demand source
    /// connected while it is open; a sink's standing reader does not (its viewers do).
    /// `wakeInterval`: how long packets may gather before the reader is woken (it takes them in
    /// one batch); zero wakes it for each.
    public func subscribe(name: String, capacity: Int? = nil, demands: Bool = true, wakeInterval: Duration = .zero) -> PacketReader {
        let dropped = Counter(label: MetricName.readerDroppedPackets,
                              dimensions: [("camera", cameraID), ("reader", name)], factory: metricsFactory)
        let reader = PacketReader(name: name, capacity: capacity ?? configuration.readerCapacity, wakeInterval: wakeInterval,
                                  droppedCounter: dropped) { [weak self] reader in
            self?.remove(reader)
        }
        let hold = demands ? demand.hold() : nil
        let closed = state.withLock { state in
            state.readers[ObjectIdentifier(reader)] = reader
            if let hold { state.holds[ObjectIdentifier(reader)] = hold }
            guard !state.closed, let streams = state.streams else { return state.closed }
            reader.enqueueControl(.streams(streams), requireKeyframe: streams.video != nil && state.gop.isEmpty)
            for packet in state.gop { reader.enqueueControl(.packet(packet), requireKeyframe: false) }
            return false
        }
        if closed { reader.close() }
        return reader
    }

    /// Runs `body` with a reader that is closed when it returns.
    public func withReader<T>(name: String, capacity: Int? = nil, demands: Bool = true, wakeInterval: Duration = .zero,
                              _ body: (PacketReader) async throws -> T) async rethrows -> T {
        let reader = subscribe(name: name, capacity: capacity, demands: demands, wakeInterval: wakeInterval)
        defer { reader.close() }
        return try await body(reader)
    }

    private func remove(_ reader: PacketReader) {
        let hold = state.withLock { state in
            state.readers.removeValue(forKey: ObjectIdentifier(reader))
            return state.holds.removeValue(forKey: ObjectIdentifier(reader))
        }
        hold?.release()
    }

    public var currentStreams: StreamSet? { state.withLock { $0.streams } }

    /// The camera's one fMP4 fragmenter, made at the first ask. fMP4 sinks `request` it when
    /// they are built; the camera's pipeline runs it when one did.
    public var fragmenter: CameraFragmenter {
        fragmenterSlot.withLock { slot in
            if let existing = slot { return existing }
            let made = CameraFragmenter(hub: self, metrics: metricsFactory)
            slot = made
            return made
        }
    }

    /// The fragmenter, when a sink asked for it.
    public var requestedFragmenter: CameraFragmenter? {
        fragmenterSlot.withLock { $0 }.flatMap { $0.isRequested ? $0 : nil }
    }

    public var statistics: HubStatistics {
        let now = MonotonicTime.nanoseconds()
        let (snapshot, readers) = state.withLock { state in
            state.prune(before: now - windowNanoseconds)
            return (state, state.readerList)
        }
        let readerStatistics = readers.map(\.statistics).sorted { $0.name < $1.name }
        let sinkStatistics = fragmenterSlot.withLock { $0 }?.fragments.sinkStatistics ?? []
        let lag = max(snapshot.sourceLateness, (readerStatistics + sinkStatistics).map(\.lagSeconds).max() ?? 0)
        let maximumLag = state.withLock { state in
            state.maximumLag = max(state.maximumLag, lag)
            return state.maximumLag
        }
        // Over the window, or over the time since the first packet when that is shorter.
        let span = Double(min(windowNanoseconds, max(now - (snapshot.firstPacketAt ?? now), 100_000_000))) / 1e9
        return HubStatistics(
            generation: snapshot.generation,
            packets: snapshot.packets, bytes: snapshot.bytes, keyframes: snapshot.keyframes,
            bitrate: Int(Double(snapshot.windowBytes * 8) / span),
            fps: Double(snapshot.windowFrames) / span,
            gopPackets: snapshot.gop.count,
            lastPacketAt: snapshot.lastPacketAt,
            readers: readerStatistics, taps: tapNames, fragmentSinks: sinkStatistics, lagSeconds: lag, maximumLagSeconds: maximumLag)
    }
}

public struct HubStatistics: Sendable {
    public let generation: Int
    public let packets: Int
    public let bytes: Int
    public let keyframes: Int
    /// Bits per second over the measurement window.
    public let bitrate: Int
    /// Video frames per second over the measurement window.
    public let fps: Double
    public let gopPackets: Int
    public let lastPacketAt: Double?
    public let readers: [ReaderStatistics]
    /// What reads the packets on the camera's own thread (`StreamHub.tap`): the fragmenter, the clipper.
    public let taps: [String]
    /// Everything that reads the camera's packets: readers and taps (`/api/health`, the camera
    /// view and `gateway_camera_readers` all show this).
    public var readerCount: Int { readers.count + taps.count }
    /// The sinks that read the camera's fMP4 (HLS, the recorder), not its viewers.
    public let fragmentSinks: [ReaderStatistics]
    /// How far behind real time the camera's packets are now: the source's lateness (a paced
    /// file) or the oldest packet a reader has not taken yet, whichever is more.
    public let lagSeconds: Double
    /// The most `lagSeconds` has been (as seen by the source and by each look at the statistics).
    public let maximumLagSeconds: Double
}
