import CFFmpeg

/// Codecs a source can describe itself, without libavformat (an RTSP camera's SDP).
public enum ElementaryCodec: Sendable {
    case h264, h265, aac, pcmMulaw, pcmAlaw

    var id: AVCodecID {
        switch self {
        case .h264: AV_CODEC_ID_H264
        case .h265: AV_CODEC_ID_HEVC
        case .aac: AV_CODEC_ID_AAC
        case .pcmMulaw: AV_CODEC_ID_PCM_MULAW
        case .pcmAlaw: AV_CODEC_ID_PCM_ALAW
        }
    }

    public var isVideo: Bool { self == .h264 || self == .h265 }
}

extension CodecParameters {
    /// The parameters of a video stream known from its parameter sets (`extradata`, Annex B: the
    /// SPS and PPS, and the VPS for H.265) and its first keyframe (Annex B): libavcodec's parser
    /// reads the size, profile, level and pixel format from them, as libavformat's probing would.
    /// Nil when the parser finds no picture size in them.
    public static func video(_ codec: ElementaryCodec, extradata: [UInt8], keyframe: [UInt8]) -> CodecParameters? {
        guard codec.isVideo, let parser = av_parser_init(Int32(codec.id.rawValue)) else { return nil }
        defer { av_parser_close(parser) }
        var context: UnsafeMutablePointer<AVCodecContext>? = avcodec_alloc_context3(nil)
        defer { avcodec_free_context(&context) }
        guard let context else { return nil }
        context.pointee.codec_type = AVMEDIA_TYPE_VIDEO
        context.pointee.codec_id = codec.id
        // The parser reads the parameter sets in-band, ahead of the keyframe, and needs the
        // padding libavcodec's readers may read past the end.
        var input = extradata + keyframe
        input += [UInt8](repeating: 0, count: Int(AV_INPUT_BUFFER_PADDING_SIZE))
        let size = Int32(extradata.count + keyframe.count)
        input.withUnsafeBufferPointer { bytes in
            var out: UnsafeMutablePointer<UInt8>?
            var outSize: Int32 = 0
            var offset: Int32 = 0
            while offset < size {
                let used = av_parser_parse2(parser, context, &out, &outSize, bytes.baseAddress! + Int(offset), size - offset,
                                            cffmpeg_nopts(), cffmpeg_nopts(), 0)
                guard used > 0 else { break }
                offset += used
            }
            // Flush: the last access unit is only complete at the end of the input.
            _ = av_parser_parse2(parser, context, &out, &outSize, nil, 0,
                                 cffmpeg_nopts(), cffmpeg_nopts(), 0)
        }
        let width = parser.pointee.width > 0 ? parser.pointee.width : context.pointee.width
        let height = parser.pointee.height > 0 ? parser.pointee.height : context.pointee.height
        guard width > 0, height > 0 else { return nil }
        let parameters = avcodec_parameters_alloc()!
        parameters.pointee.codec_type = AVMEDIA_TYPE_VIDEO
        parameters.pointee.codec_id = codec.id
        parameters.pointee.width = width
        parameters.pointee.height = height
        parameters.pointee.format = parser.pointee.format
        parameters.pointee.profile = context.pointee.profile
        parameters.pointee.level = context.pointee.level
        Self.setExtradata(parameters, extradata)
        return CodecParameters(taking: parameters)
    }

    /// The parameters of an audio stream: AAC with its AudioSpecificConfig (`extradata`), or
    /// G.711 (no extradata).
    public static func audio(_ codec: ElementaryCodec, sampleRate: Int, channels: Int, extradata: [UInt8] = []) -> CodecParameters? {
        guard !codec.isVideo, (1...384_000).contains(sampleRate), (1...8).contains(channels) else { return nil }
        let parameters = avcodec_parameters_alloc()!
        parameters.pointee.codec_type = AVMEDIA_TYPE_AUDIO
        parameters.pointee.codec_id = codec.id
        parameters.pointee.sample_rate = Int32(sampleRate)
        av_channel_layout_default(&parameters.pointee.ch_layout, Int32(channels))
        switch codec {
        case .aac:
            parameters.pointee.frame_size = 1024
            parameters.pointee.profile = 1  // FF_PROFILE_AAC_LOW; the config says what it is
        default:
            parameters.pointee.bits_per_coded_sample = 8
            parameters.pointee.block_align = Int32(channels)
            parameters.pointee.bit_rate = Int64(sampleRate * channels * 8)
        }
        Self.setExtradata(parameters, extradata)
        return CodecParameters(taking: parameters)
    }

    private static func setExtradata(_ parameters: UnsafeMutablePointer<AVCodecParameters>, _ extradata: [UInt8]) {
        guard !extradata.isEmpty, let buffer = av_mallocz(extradata.count + Int(AV_INPUT_BUFFER_PADDING_SIZE)) else { return }
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        extradata.withUnsafeBufferPointer { bytes.update(from: $0.baseAddress!, count: extradata.count) }
        parameters.pointee.extradata = bytes
        parameters.pointee.extradata_size = Int32(extradata.count)
    }
}

extension PacketBuffer {
    /// A payload of `count` bytes written in place by `fill` (one copy from the network buffer,
    /// with libavcodec's padding zeroed after it).
    public convenience init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let packet = av_packet_alloc()!
        av_new_packet(packet, Int32(count))
        fill(UnsafeMutableRawBufferPointer(start: packet.pointee.data, count: count))
        self.init(taking: packet)
    }
}
