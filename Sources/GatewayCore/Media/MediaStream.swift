import CFFmpeg

/// A time base: one tick lasts `numerator / denominator` seconds.
public struct Rational: Sendable, Hashable, CustomStringConvertible {
    public let numerator: Int32
    public let denominator: Int32

    public init(_ numerator: Int32, _ denominator: Int32) {
        self.numerator = numerator
        self.denominator = denominator
    }

    init(_ value: AVRational) { self.init(value.num, value.den) }

    var av: AVRational { AVRational(num: numerator, den: denominator) }
    public static let microseconds = Rational(1, 1_000_000)

    public func seconds(_ ticks: Int64) -> Double { Double(ticks) * Double(numerator) / Double(denominator) }
    /// `seconds` in ticks, saturating at the ends of `Int64` (0 for NaN), never trapping.
    public func ticks(seconds: Double) -> Int64 {
        let ticks = (seconds * Double(denominator) / Double(numerator)).rounded()
        if ticks.isNaN { return 0 }
        if ticks >= 9_223_372_036_854_775_807.0 { return .max }
        if ticks <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(ticks)
    }
    /// Converts `ticks` of this time base into `target`, rounding to nearest.
    public func rescale(_ ticks: Int64, to target: Rational) -> Int64 { av_rescale_q(ticks, av, target.av) }
    public var description: String { "\(numerator)/\(denominator)" }
}

public enum MediaKind: String, Sendable {
    case video, audio, data, subtitle, other

    init(_ type: AVMediaType) {
        switch type {
        case AVMEDIA_TYPE_VIDEO: self = .video
        case AVMEDIA_TYPE_AUDIO: self = .audio
        case AVMEDIA_TYPE_DATA: self = .data
        case AVMEDIA_TYPE_SUBTITLE: self = .subtitle
        default: self = .other
        }
    }
}

/// An immutable copy of one stream's codec parameters, owned by Swift.
public final class CodecParameters: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<AVCodecParameters>

    init(copying source: UnsafePointer<AVCodecParameters>) {
        pointer = avcodec_parameters_alloc()
        avcodec_parameters_copy(pointer, source)
    }

    /// Takes ownership of `pointer` (parameters made in Swift, `ElementaryStream.swift`).
    init(taking pointer: UnsafeMutablePointer<AVCodecParameters>) {
        self.pointer = pointer
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&owned)
    }

    public var kind: MediaKind { MediaKind(pointer.pointee.codec_type) }
    public var codecName: String { String(cString: avcodec_get_name(pointer.pointee.codec_id)) }
    public var profileName: String? {
        guard let name = avcodec_profile_name(pointer.pointee.codec_id, pointer.pointee.profile) else { return nil }
        return String(cString: name)
    }
    public var width: Int { Int(pointer.pointee.width) }
    public var height: Int { Int(pointer.pointee.height) }
    public var sampleRate: Int { Int(pointer.pointee.sample_rate) }
    public var channels: Int { Int(pointer.pointee.ch_layout.nb_channels) }
    public var bitRate: Int { Int(pointer.pointee.bit_rate) }
    public var frameSize: Int { Int(pointer.pointee.frame_size) }
    /// H.264 every browser decodes: 8-bit 4:2:0, Baseline to High (not High 10, 4:2:2 or 4:4:4).
    public var isBrowserPlayableH264: Bool {
        let format = AVPixelFormat(rawValue: pointer.pointee.format)
        return pointer.pointee.codec_id == AV_CODEC_ID_H264 && (format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P)
            && (pointer.pointee.profile < 0 || pointer.pointee.profile & 0xFF <= 100)  // the constraint flags (Constrained Baseline) masked
    }
    /// Codecs that go into fMP4 and MSE without re-encoding.
    public var isCopyableToMP4: Bool {
        [AV_CODEC_ID_H264, AV_CODEC_ID_HEVC, AV_CODEC_ID_AAC, AV_CODEC_ID_AV1, AV_CODEC_ID_VP9, AV_CODEC_ID_OPUS, AV_CODEC_ID_MP3]
            .contains(pointer.pointee.codec_id)
    }
}

/// One elementary stream of a camera, as the stream hub and the sinks see it.
public struct MediaStream: Sendable {
    public let index: Int
    public let timeBase: Rational
    public let parameters: CodecParameters
    /// Frames per second from the container, when it says.
    public let frameRate: Double?

    public init(index: Int, timeBase: Rational, parameters: CodecParameters, frameRate: Double?) {
        self.index = index
        self.timeBase = timeBase
        self.parameters = parameters
        self.frameRate = frameRate
    }

    public var kind: MediaKind { parameters.kind }
    public var codecName: String { parameters.codecName }

    /// The same stream at another position of its stream set.
    public func reindexed(_ index: Int) -> MediaStream {
        MediaStream(index: index, timeBase: timeBase, parameters: parameters, frameRate: frameRate)
    }

    /// The same stream, its packets counted in `timeBase`.
    public func retimed(_ timeBase: Rational) -> MediaStream {
        MediaStream(index: index, timeBase: timeBase, parameters: parameters, frameRate: frameRate)
    }

    /// Duration of one frame in `timeBase` ticks, used where a packet carries none.
    public var nominalPacketDuration: Int64 {
        switch kind {
        case .video:
            // A container may claim any rate; a frame lasts between 1/240 s and 1 s here.
            let fps = min(max((frameRate ?? 0) > 0 ? frameRate! : 25, 1), 240)
            return min(max(1, timeBase.ticks(seconds: 1 / fps)), MediaPacket.maximumDurationTicks(in: timeBase))
        case .audio where parameters.sampleRate > 0:
            let samples = parameters.frameSize > 0 ? parameters.frameSize : 1024
            return min(max(1, timeBase.ticks(seconds: Double(samples) / Double(parameters.sampleRate))),
                       MediaPacket.maximumDurationTicks(in: timeBase))
        default:
            return 1
        }
    }
}

/// The streams of one source session. A new session (reconnect, loop of another file) gets a new
/// generation, which tells sinks to write a new init segment or mark a discontinuity.
public struct StreamSet: Sendable {
    public let streams: [MediaStream]
    public let generation: Int

    public init(streams: [MediaStream], generation: Int = 0) {
        self.streams = streams
        self.generation = generation
    }

    public var video: MediaStream? { streams.first { $0.kind == .video } }
    public var audio: MediaStream? { streams.first { $0.kind == .audio } }

    public func withGeneration(_ generation: Int) -> StreamSet { StreamSet(streams: streams, generation: generation) }
}
