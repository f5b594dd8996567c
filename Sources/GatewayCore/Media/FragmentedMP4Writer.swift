import CFFmpeg

/// One moof+mdat pair.
public struct MP4Fragment: Sendable {
    public let bytes: [UInt8]
    /// Decode time of the first sample, in seconds from the writer's origin.
    public let startTime: Double
    public let duration: Double
    /// Starts with a video keyframe: a player may begin here (an HLS segment, an independent part).
    public let isIndependent: Bool
    public let sequence: Int
    /// The fragment after it starts with a video keyframe (it was cut there; with no video, every
    /// fragment is independent): an HLS segment that is long enough may end here, now, rather
    /// than when that next fragment is complete — a whole GOP later without LL-HLS.
    public var endsBeforeKeyframe = false
    /// Wall-clock time (Unix seconds) the fragment was handed to viewers; 0 before that.
    public var publishedAt: Double = 0
    /// When the hub received the fragment's newest packet (`MonotonicTime` nanoseconds; 0 when
    /// unknown), and the same as wall-clock Unix seconds once published: `publishedAt −
    /// receivedAt` is what cutting and handing over cost; `startTime + duration` is the media
    /// time of about that moment, which lets a player tell how far behind the camera it plays.
    public var arrival: Int64 = 0
    public var receivedAt: Double = 0

    public init(bytes: [UInt8], startTime: Double, duration: Double, isIndependent: Bool, sequence: Int) {
        self.bytes = bytes
        self.startTime = startTime
        self.duration = duration
        self.isIndependent = isIndependent
        self.sequence = sequence
    }
}

/// Remuxes packets into fragmented MP4 in memory (a custom AVIOContext, no temp files):
/// an init segment (ftyp+moov), then one fragment per GOP, or per part of `partDuration`
/// where LL-HLS wants smaller pieces. Packets are copied, never re-encoded.
public final class FragmentedMP4Writer {
    public enum Fragmentation: Sendable {
        /// A fragment starts at every video keyframe.
        case perKeyframe
        /// Fragments also end when they reach this length; only keyframe-led ones are independent.
        case parts(Duration)
    }

    private final class Output {
        var bytes: [UInt8] = []
    }

    private var context: UnsafeMutablePointer<AVFormatContext>?
    private var io: UnsafeMutablePointer<AVIOContext>?
    private let output = Output()
    private let streams: StreamSet
    private var outputTimeBases: [Rational] = []
    private let partSeconds: Double?
    private let hasVideo: Bool
    private let component: String

    public private(set) var initSegment: [UInt8] = []
    private var timing: TimestampNormalizer
    private var fragmentStart: Double?
    private var fragmentIndependent = false
    private var nextSequence = 1
    private var pendingSamples = 0
    private var pendingBytes = 0
    private var pendingArrival: Int64 = 0
    /// A fragment is cut before it passes this, keyframe or not: a camera that never sends a
    /// keyframe must not grow one fragment without end (nor past the 32-bit sizes of its boxes).
    public static let maximumFragmentBytes = 32 << 20
    /// Our own moof + mdat writer, for the codecs it carries; otherwise libavformat's muxer
    /// writes the fragments too.
    private var boxes: FragmentBoxes?

    public init(streams: StreamSet, fragmentation: Fragmentation = .perKeyframe, component: String = "fmp4") throws {
        FFmpeg.initialize()
        self.streams = streams
        self.component = component
        hasVideo = streams.video != nil
        if case .parts(let duration) = fragmentation {
            let (seconds, attoseconds) = duration.components
            partSeconds = Double(seconds) + Double(attoseconds) / 1e18
        } else {
            partSeconds = nil
        }
        timing = TimestampNormalizer(streams: streams)

        let context = try MP4Output.makeContext(for: streams, filename: nil, component: component)
        self.context = context

        let bufferSize: Int32 = 1 << 16
        let buffer = av_malloc(Int(bufferSize))!.assumingMemoryBound(to: UInt8.self)
        let opaque = Unmanaged.passUnretained(output).toOpaque()
        io = avio_alloc_context(buffer, bufferSize, 1, opaque, nil, { opaque, data, size in
            guard let opaque, let data, size > 0 else { return size }
            let output = Unmanaged<Output>.fromOpaque(opaque).takeUnretainedValue()
            output.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(size)))
            return size
        }, nil)
        context.pointee.pb = io
        context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO

        var options: OpaquePointer?
        av_dict_set(&options, "movflags", "frag_custom+empty_moov+default_base_moof+skip_trailer", 0)
        defer { av_dict_free(&options) }
        let result = avformat_write_header(context, &options)
        guard result >= 0 else {
            release()
            throw MediaError(.mux, component: component, "cannot write the MP4 header", ffmpegError: result)
        }
        avio_flush(io)
        initSegment = output.bytes
        output.bytes.removeAll(keepingCapacity: true)
        outputTimeBases = (0..<streams.streams.count).map { Rational(context.pointee.streams[$0]!.pointee.time_base) }
        boxes = FragmentBoxes(streams: streams)
    }

    deinit { release() }

    private func release() {
        if let context {
            avformat_free_context(context)
            self.context = nil
        }
        if io != nil {
            av_freep(&io!.pointee.buffer)
            avio_context_free(&io)
        }
    }

    /// Adds one packet; returns the fragment this packet closed, if any.
    public func append(_ packet: MediaPacket) throws -> MP4Fragment? {
        guard let context, let timed = timing.normalize(packet) else { return nil }
        let seconds = timed.seconds

        var closed: MP4Fragment?
        if pendingSamples > 0, let start = fragmentStart,
           shouldCut(before: packet, at: seconds, fragmentStart: start) || pendingBytes + packet.size > Self.maximumFragmentBytes {
            closed = try flushFragment(endingAt: seconds)
            closed!.endsBeforeKeyframe = packet.isVideoKeyframe || !hasVideo
        }
        if fragmentStart == nil {
            fragmentStart = seconds
            fragmentIndependent = packet.isVideoKeyframe || !hasVideo
        }

        if boxes != nil {
            let target = outputTimeBases[packet.streamIndex]
            boxes!.append(packet, track: packet.streamIndex, dts: packet.timeBase.rescale(timed.dts, to: target),
                          pts: packet.timeBase.rescale(timed.pts, to: target), duration: packet.timeBase.rescale(timed.duration, to: target))
        } else {
            try MP4Output.write(packet, timed: timed, to: context, timeBase: outputTimeBases[packet.streamIndex], component: component)
        }
        pendingSamples += 1
        pendingBytes += packet.size
        pendingArrival = max(pendingArrival, packet.arrival)
        return closed
    }

    private func shouldCut(before packet: MediaPacket, at seconds: Double, fragmentStart: Double) -> Bool {
        if packet.isVideoKeyframe { return true }
        let cutsOnThisStream = packet.kind == .video || !hasVideo
        guard cutsOnThisStream else { return false }
        let limit = partSeconds ?? (hasVideo ? nil : 1.0)
        guard let limit else { return false }
        return seconds - fragmentStart >= limit - 0.0005
    }

    private func flushFragment(endingAt end: Double) throws -> MP4Fragment {
        let bytes: [UInt8]
        if boxes != nil {
            bytes = boxes!.fragment(sequence: nextSequence)
        } else {
            let result = av_write_frame(context, nil)
            guard result >= 0 else { throw MediaError(.mux, component: component, "cannot write a fragment", ffmpegError: result) }
            avio_flush(io)
            // An exact-size copy: handing over `output.bytes` itself would give every fragment the
            // capacity of the largest one so far (a keyframe part), and the next one a new buffer.
            bytes = output.bytes.withUnsafeBufferPointer { [UInt8]($0) }
        }
        let start = fragmentStart ?? end
        var fragment = MP4Fragment(bytes: bytes, startTime: start, duration: max(0, end - start),
                                   isIndependent: fragmentIndependent, sequence: nextSequence)
        fragment.arrival = pendingArrival
        pendingArrival = 0
        nextSequence += 1
        output.bytes.removeAll(keepingCapacity: true)
        fragmentStart = nil
        pendingSamples = 0
        pendingBytes = 0
        return fragment
    }

    /// Closes the fragment in progress (end of stream).
    public func finish() throws -> MP4Fragment? {
        guard pendingSamples > 0 else { return nil }
        return try flushFragment(endingAt: timing.end)
    }
}
