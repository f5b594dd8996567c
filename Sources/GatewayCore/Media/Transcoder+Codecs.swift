import CFFmpeg

/// Decodes one video stream into frames (libavcodec).
final class VideoDecoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private let component: String
    /// Packets the decoder refused (a corrupt JPEG, a lost slice); they are skipped.
    private(set) var rejected = 0

    init(stream: MediaStream, component: String) throws {
        self.component = component
        let codecID = stream.parameters.pointer.pointee.codec_id
        guard let codec = avcodec_find_decoder(codecID), let context = avcodec_alloc_context3(codec) else {
            throw MediaError(.unsupported, component: component, "no decoder for \(stream.codecName) in this FFmpeg build")
        }
        self.context = context
        frame = av_frame_alloc()
        avcodec_parameters_to_context(context, stream.parameters.pointer)
        context.pointee.pkt_timebase = stream.timeBase.av
        context.pointee.thread_count = 1
        let result = avcodec_open2(context, codec, nil)
        guard result >= 0 else { throw MediaError(.unsupported, component: component, "cannot open the \(stream.codecName) decoder", ffmpegError: result) }
    }

    deinit {
        avcodec_free_context(&context)
        av_frame_free(&frame)
    }

    /// Decodes `packet` (with its repaired timestamps) and hands each finished frame to `body`.
    func decode(_ packet: MediaPacket, _ body: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws {
        guard let context, let frame else { return }
        if packet.send(to: context) < 0 {
            rejected += 1
            return
        }
        while true {
            let result = avcodec_receive_frame(context, frame)
            if result == FFmpeg.error(EAGAIN) || result == FFmpeg.endOfFile { return }
            if result < 0 {
                rejected += 1
                return
            }
            defer { av_frame_unref(frame) }
            try body(frame)
        }
    }

    /// Flushes the decoder: the frames it still holds go to `body`.
    func drain(_ body: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws {
        guard let context, let frame else { return }
        avcodec_send_packet(context, nil)
        while avcodec_receive_frame(context, frame) >= 0 {
            defer { av_frame_unref(frame) }
            try body(frame)
        }
    }
}

extension MediaPacket {
    /// Sends this packet, with its (repaired) timestamps, to `decoder`.
    func send(to decoder: UnsafeMutablePointer<AVCodecContext>) -> Int32 {
        guard let input = av_packet_clone(payload.packet) else { return FFmpeg.error(ENOMEM) }
        defer {
            var owned: UnsafeMutablePointer<AVPacket>? = input
            av_packet_free(&owned)
        }
        input.pointee.pts = pts ?? FFmpeg.noTimestamp
        input.pointee.dts = dts ?? FFmpeg.noTimestamp
        return avcodec_send_packet(decoder, input)
    }
}

/// Converts frames to the encoder's size and pixel format (libswscale); passes through frames
/// that already match.
final class FrameScaler {
    private var context: OpaquePointer?
    private var output: UnsafeMutablePointer<AVFrame>?
    let width: Int32
    let height: Int32
    let format: AVPixelFormat

    init(width: Int32, height: Int32, format: AVPixelFormat) {
        self.width = width
        self.height = height
        self.format = format
    }

    deinit {
        sws_freeContext(context)
        av_frame_free(&output)
    }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>, component: String) throws -> UnsafeMutablePointer<AVFrame> {
        let sourceFormat = AVPixelFormat(rawValue: frame.pointee.format)
        if frame.pointee.width == width, frame.pointee.height == height, sourceFormat == format { return frame }
        context = sws_getCachedContext(context, frame.pointee.width, frame.pointee.height, sourceFormat,
                                       width, height, format, Int32(SWS_BILINEAR), nil, nil, nil)
        guard let context else { throw MediaError(.unsupported, component: component, "cannot convert \(frame.pointee.width)x\(frame.pointee.height) frames") }
        if output == nil {
            output = av_frame_alloc()
            output!.pointee.width = width
            output!.pointee.height = height
            output!.pointee.format = format.rawValue
            guard av_frame_get_buffer(output, 0) >= 0 else { throw MediaError(.transcode, component: component, "out of memory") }
        }
        guard let output, av_frame_make_writable(output) >= 0 else { throw MediaError(.transcode, component: component, "out of memory") }
        let source = withUnsafePointer(to: &frame.pointee.data) { $0.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { $0 } }
        let sourceStrides = withUnsafePointer(to: &frame.pointee.linesize) { $0.withMemoryRebound(to: Int32.self, capacity: 8) { $0 } }
        let target = withUnsafePointer(to: &output.pointee.data) { $0.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { $0 } }
        let targetStrides = withUnsafePointer(to: &output.pointee.linesize) { $0.withMemoryRebound(to: Int32.self, capacity: 8) { $0 } }
        sws_scale(context, source, sourceStrides, 0, frame.pointee.height, target, targetStrides)
        output.pointee.pts = frame.pointee.pts
        return output
    }
}

/// Encodes frames to H.264 with libx264, for MP4, MSE and HLS: global headers (avcC in the init
/// segment), no B-frames, a keyframe every `gopSeconds` of media time.
final class VideoEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    let timeBase: Rational
    let stream: MediaStream
    private let component: String
    private let gopTicks: Int64
    private var lastKeyframe: Int64?
    private var lastPTS: Int64?

    init(width: Int32, height: Int32, pixelFormat: AVPixelFormat = AV_PIX_FMT_YUV420P, timeBase: Rational, frameRate: Double?,
         index: Int, options: TranscodeOptions, component: String) throws {
        self.component = component
        self.timeBase = timeBase
        guard let codec = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_H264),
              let context = avcodec_alloc_context3(codec) else {
            throw MediaError(.unsupported, component: component, "no H.264 encoder in this FFmpeg build")
        }
        self.context = context
        let fps = frameRate.flatMap { $0 > 0 && $0 <= 240 ? $0 : nil } ?? 25
        context.pointee.width = width
        context.pointee.height = height
        context.pointee.pix_fmt = pixelFormat
        if pixelFormat == AV_PIX_FMT_YUVJ420P { context.pointee.color_range = AVCOL_RANGE_JPEG }
        context.pointee.time_base = timeBase.av
        context.pointee.framerate = av_d2q(fps, 1000)
        context.pointee.gop_size = Int32(max(1, (fps * options.gopSeconds * 2).rounded()))
        context.pointee.max_b_frames = 0
        context.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        context.pointee.thread_count = Int32(options.threads)
        gopTicks = timeBase.ticks(seconds: options.gopSeconds)
        var dictionary: OpaquePointer?
        defer { av_dict_free(&dictionary) }
        av_dict_set(&dictionary, "preset", options.preset, 0)
        if options.tune != "none" { av_dict_set(&dictionary, "tune", options.tune, 0) }
        av_dict_set(&dictionary, "forced-idr", "1", 0)
        if let kbps = options.bitrateKbps {
            context.pointee.bit_rate = Int64(kbps) * 1000
            context.pointee.rc_max_rate = Int64(kbps) * 1000
            context.pointee.rc_buffer_size = Int32(kbps * 1000)
        } else {
            av_dict_set(&dictionary, "crf", "\(options.crf)", 0)
        }
        let result = avcodec_open2(context, codec, &dictionary)
        guard result >= 0 else { throw MediaError(.transcode, component: component, "cannot open the H.264 encoder", ffmpegError: result) }
        let parameters = avcodec_parameters_alloc()!
        defer {
            var owned: UnsafeMutablePointer<AVCodecParameters>? = parameters
            avcodec_parameters_free(&owned)
        }
        avcodec_parameters_from_context(parameters, context)
        stream = MediaStream(index: index, timeBase: timeBase, parameters: CodecParameters(copying: parameters), frameRate: fps)
    }

    deinit { avcodec_free_context(&context) }

    /// Encodes `frame` (nil drains) and hands each packet to `body`.
    func encode(_ frame: UnsafeMutablePointer<AVFrame>?, _ body: (MediaPacket) throws -> Void) throws {
        guard let context else { return }
        if let frame {
            var pts = frame.pointee.pts == FFmpeg.noTimestamp ? (lastPTS ?? -1) + 1 : frame.pointee.pts
            if let lastPTS, pts <= lastPTS { pts = lastPTS + 1 }
            lastPTS = pts
            frame.pointee.pts = pts
            if lastKeyframe.map({ pts - $0 >= gopTicks }) ?? true {
                frame.pointee.pict_type = AV_PICTURE_TYPE_I
                lastKeyframe = pts
            } else {
                frame.pointee.pict_type = AV_PICTURE_TYPE_NONE
            }
        }
        let sent = avcodec_send_frame(context, frame)
        guard sent >= 0 || sent == FFmpeg.endOfFile else { throw MediaError(.transcode, component: component, "the encoder refused a frame", ffmpegError: sent) }
        while true {
            guard let packet = av_packet_alloc() else { throw MediaError(.transcode, component: component, "out of memory") }
            let result = avcodec_receive_packet(context, packet)
            if result < 0 {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
                if result == FFmpeg.error(EAGAIN) || result == FFmpeg.endOfFile { return }
                throw MediaError(.transcode, component: component, "encoding failed", ffmpegError: result)
            }
            let pts = packet.pointee.pts, dts = packet.pointee.dts
            try body(MediaPacket(
                streamIndex: stream.index, kind: .video,
                pts: pts == FFmpeg.noTimestamp ? nil : pts, dts: dts == FFmpeg.noTimestamp ? nil : dts,
                duration: packet.pointee.duration, isKeyframe: packet.pointee.flags & AV_PKT_FLAG_KEY != 0,
                timeBase: timeBase, payload: PacketBuffer(taking: packet)))
        }
    }
}
