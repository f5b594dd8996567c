import CFFmpeg
import Logging

/// Sits between a camera's source and its hub. Streams MP4/MSE can carry pass through
/// untouched; video they cannot (MJPEG, raw, MPEG-2…) gets one H.264 encode here, on the
/// source's thread: once per camera, whatever the number of viewers. Audio that MP4 cannot carry
/// (G.711, PCM) becomes AAC; if that cannot be set up it is left out (with a warning), so the
/// video still plays.
public final class TranscodingOutput: SourceOutput, @unchecked Sendable {
    private struct Session {
        var videoIndex: Int?
        var decoder: VideoDecoder?
        var scaler: FrameScaler?
        var encoder: VideoEncoder?
        /// Input index → output index of streams copied as they are.
        var copied: [Int: Int] = [:]
        var audio: MediaStream?
        var audioIndex: Int?
        var audioTranscoder: AudioTranscoder?
        var begun = false
        var source: MediaStream?
    }

    private let downstream: any SourceOutput
    private let options: TranscodeOptions
    private let component: String
    private let logger: Logger
    /// Touched only from the source's thread (begin and publish come from it, in order).
    private var session = Session()
    private var passthrough = true

    public init(downstream: any SourceOutput, options: TranscodeOptions, component: String, logger: Logger) {
        self.downstream = downstream
        self.options = options
        self.component = component
        self.logger = logger
    }

    /// Whether `stream` gets the H.264 encode under `options`.
    public static func needsTranscode(_ stream: MediaStream, options: TranscodeOptions) -> Bool {
        guard stream.kind == .video else { return false }
        switch options.mode {
        case .never: return false
        case .always: return true
        case .auto: return !stream.parameters.isCopyableToMP4
        }
    }

    public func begin(_ streams: StreamSet) throws {
        session = Session()
        let video = streams.video.flatMap { Self.needsTranscode($0, options: options) ? $0 : nil }
        let foreignAudio = streams.audio.flatMap { $0.parameters.isCopyableToMP4 ? nil : $0 }
        passthrough = video == nil && foreignAudio == nil
        if passthrough {
            try downstream.begin(streams)
            return
        }
        var outputIndex = 0
        for stream in streams.streams {
            if stream.index == video?.index {
                session.videoIndex = stream.index
                session.source = stream
                session.decoder = try VideoDecoder(stream: stream, component: component)
                outputIndex += 1
            } else if stream.index == foreignAudio?.index {
                do {
                    let transcoder = try AudioTranscoder(input: stream, index: outputIndex, component: component)
                    session.audioIndex = stream.index
                    session.audioTranscoder = transcoder
                    session.audio = transcoder.stream
                    outputIndex += 1
                    logger.notice("transcoding audio to AAC", metadata: ["from": "\(stream.codecName) \(stream.parameters.sampleRate) Hz"])
                } catch {
                    logger.warning("audio is left out: it cannot be copied into MP4", metadata: ["codec": "\(stream.codecName)", "error": "\(error)"])
                }
            } else {
                session.copied[stream.index] = outputIndex
                if stream.kind == .audio { session.audio = stream.reindexed(outputIndex) }
                outputIndex += 1
            }
        }
        if video == nil {
            // Only the audio changes: everything starts at once.
            session.begun = true
            var output = streams.streams.compactMap { stream in session.copied[stream.index].map { stream.reindexed($0) } }
            if let audio = session.audioTranscoder?.stream { output.append(audio) }
            try downstream.begin(StreamSet(streams: output.sorted { $0.index < $1.index }))
        }
    }

    public func publish(contentsOf packets: [MediaPacket]) throws {
        if passthrough { return try downstream.publish(contentsOf: packets) }
        for packet in packets { try publish(packet) }
    }

    public func publish(_ packet: MediaPacket) throws {
        if passthrough { return try downstream.publish(packet) }
        if packet.streamIndex == session.videoIndex {
            try transcode(packet)
        } else if packet.streamIndex == session.audioIndex, let audio = session.audioTranscoder {
            // Fed from the start (its clock and FIFO), published once the session has begun.
            try audio.transcode(packet) { encoded in if session.begun { try downstream.publish(encoded) } }
        } else if let index = session.copied[packet.streamIndex], session.begun {
            var copy = packet
            copy.streamIndex = index
            try downstream.publish(copy)
        }
    }

    /// The end of the input (a file, not a camera): the frames the decoder and the encoder still
    /// hold (a lookahead outside `zerolatency`) go out.
    public func finish() throws {
        guard !passthrough, let decoder = session.decoder else { return }
        try decoder.drain { frame in try encodeFrame(frame) }
        guard let encoder = session.encoder else { return }
        try encoder.encode(nil) { encoded in try downstream.publish(encoded) }
    }

    private func transcode(_ packet: MediaPacket) throws {
        guard let decoder = session.decoder, let source = session.source else { return }
        try decoder.decode(packet) { frame in
            if session.encoder == nil { try openEncoder(for: frame, source: source) }
            try encodeFrame(frame)
        }
    }

    private func encodeFrame(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let encoder = session.encoder, let scaler = session.scaler else { return }
        if frame.pointee.best_effort_timestamp != FFmpeg.noTimestamp { frame.pointee.pts = frame.pointee.best_effort_timestamp }
        let converted = try scaler.convert(frame, component: component)
        try encoder.encode(converted) { encoded in
            if !session.begun {
                session.begun = true
                try downstream.begin(StreamSet(streams: [encoder.stream] + (session.audio.map { [$0] } ?? [])))
            }
            try downstream.publish(encoded)
        }
    }

    private func openEncoder(for frame: UnsafeMutablePointer<AVFrame>, source: MediaStream) throws {
        let (width, height) = Self.outputSize(source: (frame.pointee.width, frame.pointee.height), options: options)
        // Full-range 4:2:0 (what MJPEG decodes to) goes to x264 as it is, flagged full range in
        // the stream: no conversion pass when the size stays.
        let sameSize = width == frame.pointee.width && height == frame.pointee.height
        let format = sameSize && frame.pointee.format == AV_PIX_FMT_YUVJ420P.rawValue ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P
        let encoder = try VideoEncoder(width: width, height: height, pixelFormat: format, timeBase: source.timeBase,
                                       frameRate: source.frameRate, index: 0, options: options, component: component)
        session.encoder = encoder
        session.scaler = FrameScaler(width: width, height: height, format: format)
        logger.notice("transcoding to H.264", metadata: [
            "from": "\(source.codecName) \(frame.pointee.width)x\(frame.pointee.height)", "to": "\(width)x\(height)",
            "preset": "\(options.preset)", "rate": "\(options.bitrateKbps.map { "\($0) kbit/s" } ?? "crf \(options.crf)")",
        ])
    }

    /// The configured size; one side given keeps the aspect ratio; always even.
    public static func outputSize(source: (Int32, Int32), options: TranscodeOptions) -> (Int32, Int32) {
        let (width, height) = (max(Int(source.0), 2), max(Int(source.1), 2))
        func even(_ value: Double) -> Int32 { Int32(max(2, Int((value / 2).rounded()) * 2)) }
        switch (options.width, options.height) {
        case let (w?, h?): return (Int32(w), Int32(h))
        case let (w?, nil): return (Int32(w), even(Double(w) * Double(height) / Double(width)))
        case let (nil, h?): return (even(Double(h) * Double(width) / Double(height)), Int32(h))
        case (nil, nil): return (even(Double(width)), even(Double(height)))
        }
    }
}
