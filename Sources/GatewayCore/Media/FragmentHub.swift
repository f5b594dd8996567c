import Metrics
import Synchronization

/// An fMP4 init segment and what a player needs to know about it.
public struct MP4InitSegment: Sendable {
    public let bytes: [UInt8]
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    public let codecs: String
    public var mimeType: String { "video/mp4; codecs=\"\(codecs)\"" }
    public let generation: Int
    /// The streams it describes, when it was cut from a camera.
    public let streams: StreamSet?

    public init(bytes: [UInt8], codecs: String, generation: Int) {
        self.bytes = bytes
        self.codecs = codecs
        self.generation = generation
        streams = nil
    }

    public init(bytes: [UInt8], streams: StreamSet) {
        self.bytes = bytes
        codecs = streams.codecs
        generation = streams.generation
        self.streams = streams
    }
}

/// What a viewer of fMP4 receives, in order.
public enum FragmentEvent: HubEventKind {
    /// Always first, and again whenever the camera's session changes.
    case initSegment(MP4InitSegment)
    case fragment(MP4Fragment)
    case skipped(count: Int)

    public var skippedCount: Int? { if case .skipped(let count) = self { count } else { nil } }
    public var isPayload: Bool { if case .fragment = self { true } else { false } }
}

/// Fan-out of one camera's fMP4 to its viewers: keeps the init segment and the fragments of
/// the current GOP, so a viewer starts at once on a keyframe; per-viewer bounded queues.
public final class FragmentHub: Sendable {
    private struct State {
        var initSegment: MP4InitSegment?
        var gop: [MP4Fragment] = []
        var readers: [ObjectIdentifier: HubReader<FragmentEvent>] = [:] {
            didSet { readerList = Array(readers.values) }
        }
        var readerList: [HubReader<FragmentEvent>] = []
        /// The camera's own sinks (HLS, the recorder), as opposed to viewers.
        var sinks: Set<ObjectIdentifier> = []
        var holds: [ObjectIdentifier: DemandHold] = [:]
        /// The pipeline stopped (`closeAll`).
        var closed = false
    }

    public let cameraID: String
    private let state = Mutex(State())
    /// The camera's sinks that take parts on the camera's thread (HLS): see `HubTap`.
    private let taps = HubTaps<FragmentEvent>()
    private let metrics: any MetricsFactory
    /// The camera's demand, which every viewer holds (an on-demand camera runs while one watches).
    private let demand: SourceDemand?

    public init(cameraID: String, metrics: any MetricsFactory = MetricsSystem.factory, demand: SourceDemand? = nil) {
        self.cameraID = cameraID
        self.metrics = metrics
        self.demand = demand
    }

    public func begin(_ initSegment: MP4InitSegment) {
        taps.publish { _ in
            state.withLock { state in
                state.initSegment = initSegment
                state.gop = []
                for reader in state.readers.values { reader.enqueueControl(.initSegment(initSegment), requireKeyframe: true) }
            }
            return [.initSegment(initSegment)]
        }
    }

    /// The camera's session ended on purpose: forget the init segment and the cached GOP; the
    /// next session's init segment comes with its first packets.
    public func endSession() {
        state.withLock { state in
            state.initSegment = nil
            state.gop = []
        }
    }

    public func publish(_ fragment: MP4Fragment) {
        var fragment = fragment
        let now = MonotonicTime.nanoseconds()
        fragment.publishedAt = WallClock.now()
        fragment.receivedAt = fragment.arrival > 0 ? fragment.publishedAt - Double(max(0, now - fragment.arrival)) / 1e9 : fragment.publishedAt
        let event = FragmentEvent.fragment(fragment)
        taps.publish { _ in
            let readers = state.withLock { state -> [HubReader<FragmentEvent>] in
                if fragment.isIndependent { state.gop = [] }
                if fragment.isIndependent || !state.gop.isEmpty { state.gop.append(fragment) }
                return state.readerList
            }
            for reader in readers { reader.offer(event, isSyncPoint: fragment.isIndependent, now: now) }
            return [event]
        }
    }

    /// A sink of the camera that takes the init segment, the current GOP, then every part on
    /// the camera's thread as it is cut (`HubTap`), until `untap`. `demands`: it keeps an
    /// on-demand camera connected, as a reader would.
    public func tap(name: String, demands: Bool = true, _ handle: @escaping @Sendable ([FragmentEvent]) -> Void) -> HubTap<FragmentEvent> {
        let tap = HubTap(name: name, hold: demands ? demand?.hold() : nil, handle: handle)
        taps.add(tap) {
            state.withLock { state in
                guard !state.closed, let initSegment = state.initSegment else { return [] }
                return [.initSegment(initSegment)] + state.gop.map { .fragment($0) }
            }
        }
        return tap
    }

    public func untap(_ tap: HubTap<FragmentEvent>) { taps.remove(tap) }

    public var tapNames: [String] { taps.names }

    /// A viewer: gets the init segment and the current GOP at once, then live fragments.
    /// `demands`: whether it keeps an on-demand camera connected (viewers do, the recorder
    /// holds its own demand while it records). `sink`: a sink of the camera, not a viewer — its
    /// lag and losses are the camera's (`StreamHub.statistics`); a slow viewer's are its own.
    /// `wakeInterval`: see `HubReader` (the recorder, which writes about once a second, takes
    /// its parts in batches).
    public func subscribe(name: String, capacity: Int = 64, demands: Bool = true, sink: Bool = false,
                          wakeInterval: Duration = .zero) -> HubReader<FragmentEvent> {
        let dropped = Counter(label: MetricName.viewerDroppedFragments, dimensions: [("camera", cameraID)], factory: metrics)
        let reader = HubReader<FragmentEvent>(name: name, capacity: capacity, wakeInterval: wakeInterval,
                                              droppedCounter: dropped) { [weak self] reader in
            let hold = self?.state.withLock { state in
                state.readers.removeValue(forKey: ObjectIdentifier(reader))
                state.sinks.remove(ObjectIdentifier(reader))
                return state.holds.removeValue(forKey: ObjectIdentifier(reader))
            }
            hold??.release()
        }
        let hold = demands ? demand?.hold() : nil
        let closed = state.withLock { state in
            state.readers[ObjectIdentifier(reader)] = reader
            if sink { state.sinks.insert(ObjectIdentifier(reader)) }
            if let hold { state.holds[ObjectIdentifier(reader)] = hold }
            guard !state.closed, let initSegment = state.initSegment else { return state.closed }
            reader.enqueueControl(.initSegment(initSegment), requireKeyframe: state.gop.isEmpty)
            for fragment in state.gop { reader.enqueueControl(.fragment(fragment), requireKeyframe: false) }
            return false
        }
        if closed { reader.close() }
        return reader
    }

    /// Whether `closeAll` ended the hub.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Every reader and tap: the camera's sinks and its viewers.
    public var viewerCount: Int { state.withLock { $0.readers.count } + taps.names.count }

    /// Readers that are viewers (WebSocket, Socket.IO), not the camera's sinks.
    public var liveViewerCount: Int { state.withLock { $0.readers.count - $0.sinks.count } }

    /// Ends every reader: the camera's pipeline stopped (the camera was deleted, or replaced by
    /// a new pipeline after a change), so its viewers' streams end and their players reconnect
    /// to whatever serves the camera now instead of waiting on a hub nothing feeds.
    public func closeAll() {
        let readers = state.withLock { state in
            state.closed = true
            return state.readerList
        }
        for reader in readers { reader.close() }
    }

    /// The statistics of the readers that are the camera's sinks.
    public var sinkStatistics: [ReaderStatistics] {
        state.withLock { state in state.sinks.compactMap { state.readers[$0] } }.map(\.statistics)
    }
}

/// A sink that offers a camera as live fMP4 (the WebSocket sink); Socket.IO `watch` and
/// `/ws/cameras/{id}` find it among the camera's sinks.
public protocol LiveFragmentProvider: CameraSink {
    func subscribe(viewer: String) -> HubReader<FragmentEvent>
    var viewerLimits: ViewerLimits { get }
}

/// How far a viewer may fall behind.
public struct ViewerLimits: Sendable {
    /// Bytes that may wait for a client before its stream pauses (then skips, at the hub).
    public var maximumBuffered: Int
    /// How long a client may take nothing before it is disconnected.
    public var stallLimit: Duration

    public init(maximumBuffered: Int = 4 << 20, stallLimit: Duration = .seconds(15)) {
        self.maximumBuffered = maximumBuffered
        self.stallLimit = stallLimit
    }
}

extension StreamSet {
    /// RFC 6381 codec strings for MSE's `isTypeSupported` and HLS `CODECS`.
    public var codecs: String { streams.compactMap(\.parameters.rfc6381).joined(separator: ",") }
}

extension CodecParameters {
    var extradata: [UInt8] {
        guard let data = pointer.pointee.extradata, pointer.pointee.extradata_size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(pointer.pointee.extradata_size)))
    }

    /// profile_idc, constraint flags and level_idc of the first SPS in Annex B data.
    static func annexBSequenceParameterSet(_ data: [UInt8]) -> (UInt8, UInt8, UInt8)? {
        var index = 0
        while index + 6 < data.count {
            if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
                if data[index + 3] & 0x1F == 7 { return (data[index + 4], data[index + 5], data[index + 6]) }
                index += 3
            } else {
                index += 1
            }
        }
        return nil
    }

    /// `avc1.PPCCLL` from the avcC record, `mp4a.40.N` from the AudioSpecificConfig, …
    public var rfc6381: String? {
        func hex(_ byte: UInt8) -> String { (byte < 16 ? "0" : "") + String(byte, radix: 16) }
        let extra = extradata
        switch codecName {
        case "h264":
            if extra.count >= 4, extra[0] == 1 { return "avc1." + hex(extra[1]) + hex(extra[2]) + hex(extra[3]) }
            // Annex B (RTSP's sprop-parameter-sets): the bytes after the SPS NAL header.
            if let sps = Self.annexBSequenceParameterSet(extra) { return "avc1." + hex(sps.0) + hex(sps.1) + hex(sps.2) }
            let profile = pointer.pointee.profile > 0 ? UInt8(pointer.pointee.profile & 0xFF) : 66
            let level = UInt8(clamping: max(pointer.pointee.level, 30))
            return "avc1." + hex(profile) + "00" + hex(level)
        case "hevc":
            let level = pointer.pointee.level > 0 ? Int(pointer.pointee.level) : 93
            return "hvc1.\(max(pointer.pointee.profile, 1)).6.L\(level).B0"
        case "aac":
            let objectType = extra.first.map { Int($0 >> 3) } ?? 2
            return "mp4a.40.\(objectType == 0 ? 2 : objectType)"
        case "opus": return "opus"
        case "mp3": return "mp4a.40.34"
        case "av1": return "av01.0.08M.08"
        case "vp9": return "vp09.00.10.08"
        default: return nil
        }
    }
}
