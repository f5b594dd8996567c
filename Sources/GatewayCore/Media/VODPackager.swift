import CFFmpeg
import Foundation
import Logging

/// Turns an uploaded file into what the videos API serves, in one read of the file: a progressive
/// MP4 with its index in front (`video.mp4`, for download and ranged play), fMP4 HLS for
/// on-demand play (`hls/init.mp4`, `hls/segment-N.m4s`, `hls/index.m3u8`, segments of about
/// `segmentSeconds` cut at keyframes), and a JPEG thumbnail of the first keyframe at or after
/// 10 % of the duration (`thumbnail.jpg`). Streams browsers play (H.264, AAC) are copied; other
/// video gets one H.264 encode, audio MP4 cannot carry becomes AAC (the camera transcoder).
/// Runs on the caller's thread: call it from a worker thread, never an event loop.
public enum VODPackager {
    public struct Result: Sendable, Equatable {
        public var duration: Double
        public var videoCodec: String
        public var audioCodec: String?
        public var width: Int
        public var height: Int
        /// The source's codecs, when a transcode changed them.
        public var transcodedFrom: String?
        public var segments: Int
        public var mp4Bytes: Int
        public var thumbnailWidth: Int
        public var thumbnailHeight: Int
    }

    /// What a probe of an upload says, before it is accepted.
    public struct Probe: Sendable, Equatable {
        public var format: String
        public var duration: Double?
        public var videoCodec: String
        public var audioCodec: String?
        public var width: Int
        public var height: Int
    }

    public static let mp4Name = "video.mp4"
    public static let thumbnailName = "thumbnail.jpg"
    public static let playlistName = "index.m3u8"

    /// Video containers an upload may be: each reads the one file it is given and opens no other
    /// (no playlists — HLS, DASH, concat, ffconcat — no image sequences, no `tee`), so a file a
    /// user uploads cannot make the server read other files or URLs. Names as libavformat's
    /// demuxers give them (`mov` is `mov,mp4,m4a,3gp,3g2,mj2`).
    public static let uploadFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,mpegvideo,m4v,asf,ogg,"
        + "h264,hevc,mjpeg,nut,mxf,dv,ivf,yuv4mpegpipe"

    /// How an uploaded file is opened: the local file alone, as one of `uploadFormats`.
    static func uploadOptions(timeout: Duration) -> Demuxer.Options {
        .init(options: ["protocol_whitelist": "file", "format_whitelist": uploadFormats], timeout: timeout, displayName: "upload")
    }

    /// Opens `path` with libavformat: nil with the reason when it cannot be read or has no video.
    public static func probe(_ path: String) -> Swift.Result<Probe, MediaError> {
        do {
            let demuxer = try Demuxer(url: path, options: uploadOptions(timeout: .seconds(30)))
            guard let video = demuxer.streams.video else {
                return .failure(MediaError(.unsupported, component: "upload", "the file has no video stream"))
            }
            // A lone JPEG frame reads as MJPEG: a still image is not a video.
            if demuxer.formatName == "mjpeg", let duration = demuxer.duration, duration < 0.1 {
                return .failure(MediaError(.unsupported, component: "upload", "a still image is not a video"))
            }
            return .success(Probe(format: demuxer.formatName, duration: demuxer.duration, videoCodec: video.codecName,
                                  audioCodec: demuxer.streams.audio?.codecName, width: video.parameters.width, height: video.parameters.height))
        } catch let error as MediaError {
            return .failure(error)
        } catch {
            return .failure(MediaError(.unsupported, component: "upload", "\(error)"))
        }
    }

    public static func package(input: String, directory: String, segmentSeconds: Double = 4, interruption: Interruption = Interruption(),
                               logger: Logger, progress: (Double) -> Void) throws -> Result {
        let demuxer = try Demuxer(url: input, options: uploadOptions(timeout: .seconds(60)), interruption: interruption)
        guard let video = demuxer.streams.video else { throw MediaError(.unsupported, component: "upload", "the file has no video stream") }
        try FileIO.makeDirectory(directory + "/hls")
        let duration = demuxer.duration ?? 0
        // Browsers play 8-bit 4:2:0 H.264 in MP4 everywhere; anything else gets one encode.
        var options = TranscodeOptions()
        options.mode = video.parameters.isBrowserPlayableH264 ? .auto : .always
        options.tune = "none"
        options.preset = "veryfast"
        let sink = Sink(directory: directory, segmentSeconds: segmentSeconds)
        let output: any SourceOutput = TranscodingOutput.needsTranscode(video, options: options)
            || !(demuxer.streams.audio?.parameters.isCopyableToMP4 ?? true)
            ? TranscodingOutput(downstream: sink, options: options, component: "upload", logger: logger) : sink
        try output.begin(demuxer.streams)
        var thumbnailPacket: MediaPacket?
        var lastKeyframe: MediaPacket?
        var first: Double?
        var lastReport = -1.0
        while let packet = try demuxer.read() {
            if interruption.isCancelled { throw MediaError(.cancelled, component: "upload", "cancelled") }
            let seconds = packet.decodeSeconds ?? 0
            if first == nil { first = seconds }
            let elapsed = seconds - (first ?? 0)
            if packet.streamIndex == video.index, packet.isKeyframe {
                lastKeyframe = packet
                if thumbnailPacket == nil, elapsed >= duration * 0.1 { thumbnailPacket = packet }
            }
            try output.publish(packet)
            if duration > 0, elapsed / duration - lastReport >= 0.02 {
                lastReport = elapsed / duration
                progress(min(0.99, max(0, lastReport)))
            }
        }
        try (output as? TranscodingOutput)?.finish()
        try sink.finish()
        guard sink.segments > 0, let outputVideo = sink.streams?.video else {
            throw MediaError(.unsupported, component: "upload", "no video could be read from the file")
        }
        // A file cut short (an interrupted copy) still opens, but its index promises more.
        if duration > 1, sink.duration < duration * 0.9 - 0.5 {
            throw MediaError(.read, component: "upload", String(format: "the file ends after %.1f s of its %.1f s: it was cut short", sink.duration, duration))
        }
        guard let keyframe = thumbnailPacket ?? lastKeyframe else {
            throw MediaError(.unsupported, component: "upload", "the video has no keyframe")
        }
        let thumbnail = try Thumbnailer.jpeg(keyframe, stream: video, maxWidth: 640)
        try FileIO.write(thumbnail.bytes, to: directory + "/" + thumbnailName)
        progress(1)
        let transcoded = output is TranscodingOutput
        return Result(duration: sink.duration, videoCodec: outputVideo.codecName, audioCodec: sink.streams?.audio?.codecName,
                      width: outputVideo.parameters.width, height: outputVideo.parameters.height,
                      transcodedFrom: transcoded ? ([video.codecName] + [demuxer.streams.audio?.codecName].compactMap { $0 }).joined(separator: "+") : nil,
                      segments: sink.segments, mp4Bytes: FileIO.size(directory + "/" + mp4Name) ?? 0,
                      thumbnailWidth: thumbnail.width, thumbnailHeight: thumbnail.height)
    }

    /// Receives the (possibly transcoded) packets: one progressive MP4, and HLS segments of
    /// whole fragments (each starting at a keyframe) reaching `segmentSeconds`.
    private final class Sink: SourceOutput, @unchecked Sendable {
        let directory: String
        let segmentSeconds: Double
        var streams: StreamSet?
        var mp4: ProgressiveMP4Writer?
        var fragmenter: FragmentedMP4Writer?
        var pending: [UInt8] = []
        var pendingStart = 0.0
        var pendingDuration = 0.0
        var durations: [Double] = []
        var segments: Int { durations.count }
        var duration = 0.0

        init(directory: String, segmentSeconds: Double) {
            self.directory = directory
            self.segmentSeconds = segmentSeconds
        }

        func begin(_ streams: StreamSet) throws {
            self.streams = streams
            mp4 = try ProgressiveMP4Writer(path: directory + "/" + VODPackager.mp4Name + ".part", streams: streams, component: "upload")
            let fragmenter = try FragmentedMP4Writer(streams: streams, component: "upload")
            self.fragmenter = fragmenter
            try FileIO.write(fragmenter.initSegment, to: directory + "/hls/init.mp4")
        }

        func publish(_ packet: MediaPacket) throws {
            try mp4?.append(packet)
            if let fragment = try fragmenter?.append(packet) { try add(fragment) }
        }

        private func add(_ fragment: MP4Fragment) throws {
            // A segment ends before a keyframe-led fragment once it is long enough.
            if fragment.isIndependent, !pending.isEmpty, pendingDuration >= segmentSeconds * 0.95 { try flush() }
            if pending.isEmpty { pendingStart = fragment.startTime }
            pending += fragment.bytes
            pendingDuration = fragment.startTime + fragment.duration - pendingStart
        }

        private func flush() throws {
            guard !pending.isEmpty else { return }
            try FileIO.write(pending, to: directory + "/hls/" + VODPackager.segmentName(durations.count))
            durations.append(pendingDuration)
            duration = pendingStart + pendingDuration
            pending = []
            pendingDuration = 0
        }

        func finish() throws {
            if let last = try fragmenter?.finish() { try add(last) }
            try flush()
            try mp4?.finish()
            guard rename(directory + "/" + VODPackager.mp4Name + ".part", directory + "/" + VODPackager.mp4Name) == 0 else {
                throw MediaError(.mux, component: "upload", "cannot write \(VODPackager.mp4Name)")
            }
            try FileIO.write(Array(VODPackager.playlist(durations).utf8), to: directory + "/hls/" + VODPackager.playlistName)
        }
    }

    public static func segmentName(_ index: Int) -> String { "segment-\(index).m4s" }

    /// An RFC 8216 VOD media playlist of fMP4 segments.
    public static func playlist(_ durations: [Double]) -> String {
        let target = Int((durations.max() ?? 1).rounded(.up))
        var lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:\(max(1, target))", "#EXT-X-PLAYLIST-TYPE:VOD",
                     "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-MAP:URI=\"init.mp4\""]
        for (index, duration) in durations.enumerated() {
            lines.append("#EXTINF:\(String(format: "%.3f", duration)),")
            lines.append(segmentName(index))
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A JPEG of one video keyframe: decoded (libavcodec), scaled to at most `maxWidth` keeping the
/// aspect ratio (libswscale), encoded with FFmpeg's MJPEG encoder.
public enum Thumbnailer {
    public static func jpeg(_ keyframe: MediaPacket, stream: MediaStream, maxWidth: Int) throws -> (bytes: [UInt8], width: Int, height: Int) {
        let decoder = try VideoDecoder(stream: stream, component: "thumbnail")
        var image: (bytes: [UInt8], width: Int, height: Int)?
        let encode: (UnsafeMutablePointer<AVFrame>) throws -> Void = { frame in
            guard image == nil else { return }
            image = try encodeJPEG(frame, maxWidth: maxWidth)
        }
        try decoder.decode(keyframe, encode)
        if image == nil { try decoder.drain(encode) }
        guard let image else { throw MediaError(.unsupported, component: "thumbnail", "the keyframe could not be decoded") }
        return image
    }

    static func encodeJPEG(_ frame: UnsafeMutablePointer<AVFrame>, maxWidth: Int) throws -> (bytes: [UInt8], width: Int, height: Int) {
        let sourceWidth = Double(frame.pointee.width), sourceHeight = Double(frame.pointee.height)
        guard sourceWidth > 0, sourceHeight > 0 else { throw MediaError(.unsupported, component: "thumbnail", "an empty frame") }
        let scale = min(1, Double(maxWidth) / sourceWidth)
        func even(_ value: Double) -> Int32 { Int32(max(2, Int((value / 2).rounded()) * 2)) }
        let width = even(sourceWidth * scale), height = even(sourceHeight * scale)
        let scaler = FrameScaler(width: width, height: height, format: AV_PIX_FMT_YUVJ420P)
        let scaled = try scaler.convert(frame, component: "thumbnail")
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG), let context = avcodec_alloc_context3(codec) as UnsafeMutablePointer<AVCodecContext>? else {
            throw MediaError(.unsupported, component: "thumbnail", "no JPEG encoder in this FFmpeg build")
        }
        defer {
            var owned: UnsafeMutablePointer<AVCodecContext>? = context
            avcodec_free_context(&owned)
        }
        context.pointee.width = width
        context.pointee.height = height
        context.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
        context.pointee.color_range = AVCOL_RANGE_JPEG
        context.pointee.time_base = AVRational(num: 1, den: 25)
        context.pointee.flags |= AV_CODEC_FLAG_QSCALE
        context.pointee.global_quality = 3 * 118  // FF_QP2LAMBDA × q 3: a sharp, small JPEG
        var result = avcodec_open2(context, codec, nil)
        guard result >= 0 else { throw MediaError(.unsupported, component: "thumbnail", "cannot open the JPEG encoder", ffmpegError: result) }
        scaled.pointee.quality = context.pointee.global_quality
        scaled.pointee.pts = 0
        result = avcodec_send_frame(context, scaled)
        guard result >= 0 else { throw MediaError(.unsupported, component: "thumbnail", "the JPEG encoder refused the frame", ffmpegError: result) }
        avcodec_send_frame(context, nil)
        guard let packet = av_packet_alloc() as UnsafeMutablePointer<AVPacket>? else { throw MediaError(.unsupported, component: "thumbnail", "out of memory") }
        defer {
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
        }
        result = avcodec_receive_packet(context, packet)
        guard result >= 0, packet.pointee.size > 0 else {
            throw MediaError(.unsupported, component: "thumbnail", "the JPEG encoder produced nothing", ffmpegError: result)
        }
        let bytes = Array(UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
        _ = context
        _ = packet
        return (bytes, Int(width), Int(height))
    }
}
