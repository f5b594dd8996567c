import CFFmpeg

/// Writes packets (copied, not re-encoded) into an MP4 file whose moov ends up at the front
/// (`faststart`: browsers play it and seek with ranges). The file grows while packets arrive;
/// `finish()` writes the index and moves it to the front.
public final class ProgressiveMP4Writer {
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private let streams: StreamSet
    private var timing: TimestampNormalizer
    private var outputTimeBases: [Rational] = []
    public let path: String
    public private(set) var packetsWritten = 0
    private let component: String

    public init(path: String, streams: StreamSet, component: String) throws {
        FFmpeg.initialize()
        self.path = path
        self.streams = streams
        self.component = component
        timing = TimestampNormalizer(streams: streams)
        let context = try MP4Output.makeContext(for: streams, filename: path, component: component)
        self.context = context
        let opened = avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE)
        guard opened >= 0 else {
            avformat_free_context(context)
            self.context = nil
            throw MediaError(.mux, component: component, "cannot create the clip file", ffmpegError: opened)
        }
        var options: OpaquePointer?
        av_dict_set(&options, "movflags", "faststart", 0)
        defer { av_dict_free(&options) }
        let result = avformat_write_header(context, &options)
        guard result >= 0 else {
            close()
            throw MediaError(.mux, component: component, "cannot write the MP4 header", ffmpegError: result)
        }
        outputTimeBases = (0..<streams.streams.count).map { Rational(context.pointee.streams[$0]!.pointee.time_base) }
    }

    deinit { close() }

    private func close() {
        guard let context else { return }
        avio_closep(&context.pointee.pb)
        avformat_free_context(context)
        self.context = nil
    }

    public func append(_ packet: MediaPacket) throws {
        guard let context, let timed = timing.normalize(packet) else { return }
        try MP4Output.write(packet, timed: timed, to: context, timeBase: outputTimeBases[packet.streamIndex], component: component)
        packetsWritten += 1
    }

    /// Seconds of media written, from the first keyframe.
    public var duration: Double { timing.end }

    /// Writes the index (moved to the front) and closes the file.
    public func finish() throws {
        guard let context else { return }
        let result = av_write_trailer(context)
        close()
        if result < 0 { throw MediaError(.mux, component: component, "cannot finish the MP4", ffmpegError: result) }
    }
}

/// The timestamp rules both MP4 writers share: time starts at 0 on the first video keyframe
/// (earlier packets are dropped), dts only grows per stream, a missing duration is the stream's
/// nominal one.
struct TimestampNormalizer {
    struct Timed { let dts: Int64; let pts: Int64; let duration: Int64; let seconds: Double }

    private let streams: StreamSet
    private let hasVideo: Bool
    private var originMicroseconds: Int64?
    private var lastDTS: [Int64?]
    /// End of the latest packet, in seconds from the origin.
    private(set) var end: Double = 0

    init(streams: StreamSet) {
        self.streams = streams
        hasVideo = streams.video != nil
        lastDTS = Array(repeating: nil, count: streams.streams.count)
    }

    mutating func normalize(_ packet: MediaPacket) -> Timed? {
        let packet = packet.bounded()
        guard packet.streamIndex < streams.streams.count else { return nil }
        let stream = streams.streams[packet.streamIndex]
        guard var dts = packet.dts ?? packet.pts ?? lastDTS[packet.streamIndex].map({ $0 + stream.nominalPacketDuration }) else { return nil }
        let origin: Int64
        if let originMicroseconds {
            origin = originMicroseconds
        } else {
            if hasVideo, !packet.isVideoKeyframe { return nil }
            origin = packet.timeBase.rescale(dts, to: .microseconds)
            originMicroseconds = origin
        }
        let offset = Rational.microseconds.rescale(origin, to: packet.timeBase)
        dts -= offset
        var pts = (packet.pts ?? dts + offset) - offset
        if dts < 0 { return nil }
        if let last = lastDTS[packet.streamIndex], dts <= last { dts = last + 1 }
        pts = max(pts, dts)
        lastDTS[packet.streamIndex] = dts
        let duration = packet.duration > 0 ? packet.duration : stream.nominalPacketDuration
        end = max(end, packet.timeBase.seconds(dts + duration))
        return Timed(dts: dts, pts: pts, duration: duration, seconds: packet.timeBase.seconds(dts))
    }
}

/// The output side both MP4 writers share.
enum MP4Output {
    /// An mp4 muxer context with one stream per input stream (codec parameters copied, tag left
    /// to the muxer); refuses codecs MP4 cannot carry without a transcode.
    static func makeContext(for streams: StreamSet, filename: String?, component: String) throws -> UnsafeMutablePointer<AVFormatContext> {
        if let stream = streams.streams.first(where: { !$0.parameters.isCopyableToMP4 }) {
            throw MediaError(.unsupported, component: component, "codec \(stream.codecName) cannot be copied into MP4; it needs a transcode")
        }
        var created: UnsafeMutablePointer<AVFormatContext>?
        guard avformat_alloc_output_context2(&created, nil, "mp4", filename) >= 0, let context = created else {
            throw MediaError(.mux, component: component, "cannot create the MP4 muxer")
        }
        for stream in streams.streams {
            let out = avformat_new_stream(context, nil)!
            avcodec_parameters_copy(out.pointee.codecpar, stream.parameters.pointer)
            out.pointee.codecpar.pointee.codec_tag = 0
            out.pointee.time_base = stream.timeBase.av
        }
        return context
    }

    /// Writes `packet` (a new reference to its payload) with its normalized timestamps.
    static func write(_ packet: MediaPacket, timed: TimestampNormalizer.Timed, to context: UnsafeMutablePointer<AVFormatContext>,
                      timeBase target: Rational, component: String) throws {
        guard let out = av_packet_clone(packet.payload.packet) else { throw MediaError(.mux, component: component, "out of memory") }
        defer {
            var owned: UnsafeMutablePointer<AVPacket>? = out
            av_packet_free(&owned)
        }
        out.pointee.stream_index = Int32(packet.streamIndex)
        out.pointee.dts = packet.timeBase.rescale(timed.dts, to: target)
        out.pointee.pts = packet.timeBase.rescale(timed.pts, to: target)
        out.pointee.duration = packet.timeBase.rescale(timed.duration, to: target)
        out.pointee.pos = -1
        let result = av_write_frame(context, out)
        guard result >= 0 else { throw MediaError(.mux, component: component, "cannot add a packet", ffmpegError: result) }
    }
}
