import CFFmpeg

/// Turns audio MP4/MSE cannot carry (G.711 µ-law/A-law from RTSP cameras, PCM) into AAC-LC:
/// decode, resample to the encoder's planar float, gather whole 1024-sample frames in a FIFO,
/// encode. Output time counts samples from the first input packet's time; a jump of more
/// than 0.25 s in the input (a lost stretch) starts the count again there.
final class AudioTranscoder {
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private var encoder: UnsafeMutablePointer<AVCodecContext>?
    private var resampler: OpaquePointer?
    private var fifo: OpaquePointer?
    private var decoded: UnsafeMutablePointer<AVFrame>?
    private var chunk: UnsafeMutablePointer<AVFrame>?
    private let input: MediaStream
    private let component: String
    let stream: MediaStream
    /// Time of the next sample to leave the FIFO, in 1/sample_rate.
    private var nextSample: Int64?

    init(input: MediaStream, index: Int, component: String) throws {
        self.input = input
        self.component = component
        let codecID = input.parameters.pointer.pointee.codec_id
        guard let decoderCodec = avcodec_find_decoder(codecID), let decoder = avcodec_alloc_context3(decoderCodec) else {
            throw MediaError(.unsupported, component: component, "no decoder for \(input.codecName)")
        }
        self.decoder = decoder
        avcodec_parameters_to_context(decoder, input.parameters.pointer)
        decoder.pointee.pkt_timebase = input.timeBase.av
        var result = avcodec_open2(decoder, decoderCodec, nil)
        guard result >= 0 else { throw MediaError(.transcode, component: component, "cannot open the \(input.codecName) decoder", ffmpegError: result) }

        guard let encoderCodec = avcodec_find_encoder(AV_CODEC_ID_AAC), let encoder = avcodec_alloc_context3(encoderCodec) else {
            throw MediaError(.unsupported, component: component, "no AAC encoder in this FFmpeg build")
        }
        self.encoder = encoder
        let rate = decoder.pointee.sample_rate > 0 ? decoder.pointee.sample_rate : 8000
        encoder.pointee.sample_rate = rate
        encoder.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        av_channel_layout_default(&encoder.pointee.ch_layout, max(1, min(decoder.pointee.ch_layout.nb_channels, 2)))
        encoder.pointee.bit_rate = rate <= 16000 ? 32000 : 96000
        encoder.pointee.time_base = AVRational(num: 1, den: rate)
        encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        result = avcodec_open2(encoder, encoderCodec, nil)
        guard result >= 0 else { throw MediaError(.transcode, component: component, "cannot open the AAC encoder", ffmpegError: result) }

        var inputLayout = decoder.pointee.ch_layout
        if inputLayout.nb_channels == 0 { av_channel_layout_default(&inputLayout, 1) }
        result = swr_alloc_set_opts2(&resampler, &encoder.pointee.ch_layout, AV_SAMPLE_FMT_FLTP, rate,
                                     &inputLayout, decoder.pointee.sample_fmt, rate, 0, nil)
        guard result >= 0, swr_init(resampler) >= 0 else { throw MediaError(.transcode, component: component, "cannot set up the audio resampler", ffmpegError: result) }
        fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, encoder.pointee.ch_layout.nb_channels, 4096)
        decoded = av_frame_alloc()
        chunk = av_frame_alloc()

        let parameters = avcodec_parameters_alloc()!
        defer {
            var owned: UnsafeMutablePointer<AVCodecParameters>? = parameters
            avcodec_parameters_free(&owned)
        }
        avcodec_parameters_from_context(parameters, encoder)
        stream = MediaStream(index: index, timeBase: Rational(1, rate), parameters: CodecParameters(copying: parameters), frameRate: nil)
    }

    deinit {
        avcodec_free_context(&decoder)
        avcodec_free_context(&encoder)
        swr_free(&resampler)
        if let fifo { av_audio_fifo_free(fifo) }
        av_frame_free(&decoded)
        av_frame_free(&chunk)
    }

    /// Transcodes `packet` (repaired timestamps) and hands each AAC packet to `body`.
    func transcode(_ packet: MediaPacket, _ body: (MediaPacket) throws -> Void) throws {
        guard let decoder, let decoded, packet.send(to: decoder) >= 0 else { return }
        while avcodec_receive_frame(decoder, decoded) >= 0 {
            defer { av_frame_unref(decoded) }
            try resampleIntoFIFO(decoded)
            try drain(body)
        }
    }

    private func resampleIntoFIFO(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let encoder, let fifo else { return }
        let rate = Int64(encoder.pointee.sample_rate)
        if frame.pointee.pts != FFmpeg.noTimestamp {
            let at = av_rescale_q(frame.pointee.pts, input.timeBase.av, AVRational(num: 1, den: Int32(rate)))
            let expected = (nextSample ?? at) + Int64(av_audio_fifo_size(fifo))
            if nextSample == nil || abs(at - expected) > rate / 4 {
                av_audio_fifo_reset(fifo)
                nextSample = at
            }
        }
        let channels = Int(encoder.pointee.ch_layout.nb_channels)
        let capacity = Int(swr_get_out_samples(resampler, frame.pointee.nb_samples))
        guard capacity > 0 else { return }
        var planes = (0..<channels).map { _ in UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 4) }
        defer { planes.forEach { $0.deallocate() } }
        let converted = planes.withUnsafeMutableBufferPointer { output -> Int32 in
            withUnsafePointer(to: &frame.pointee.data) { data in
                data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { inputPlanes in
                    output.baseAddress!.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: channels) { outputPlanes in
                        swr_convert(resampler, outputPlanes, Int32(capacity), UnsafeMutablePointer(mutating: inputPlanes), frame.pointee.nb_samples)
                    }
                }
            }
        }
        guard converted >= 0 else { throw MediaError(.transcode, component: component, "audio resampling failed", ffmpegError: converted) }
        let written = planes.withUnsafeMutableBufferPointer { output in
            output.baseAddress!.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: channels) { pointers in
                av_audio_fifo_write(fifo, pointers, converted)
            }
        }
        guard written >= 0 else { throw MediaError(.transcode, component: component, "out of memory") }
    }

    private func drain(_ body: (MediaPacket) throws -> Void) throws {
        guard let encoder, let fifo, let chunk else { return }
        let size = encoder.pointee.frame_size > 0 ? encoder.pointee.frame_size : 1024
        while av_audio_fifo_size(fifo) >= size {
            av_frame_unref(chunk)
            chunk.pointee.nb_samples = size
            chunk.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
            chunk.pointee.sample_rate = encoder.pointee.sample_rate
            av_channel_layout_copy(&chunk.pointee.ch_layout, &encoder.pointee.ch_layout)
            guard av_frame_get_buffer(chunk, 0) >= 0 else { throw MediaError(.transcode, component: component, "out of memory") }
            let read = withUnsafePointer(to: &chunk.pointee.data) { data in
                data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) { planes in
                    av_audio_fifo_read(fifo, UnsafeMutablePointer(mutating: planes), size)
                }
            }
            guard read == size else { return }
            chunk.pointee.pts = nextSample ?? 0
            nextSample = (nextSample ?? 0) + Int64(size)
            let sent = avcodec_send_frame(encoder, chunk)
            guard sent >= 0 else { throw MediaError(.transcode, component: component, "the AAC encoder refused a frame", ffmpegError: sent) }
            while true {
                guard let packet = av_packet_alloc() else { throw MediaError(.transcode, component: component, "out of memory") }
                if avcodec_receive_packet(encoder, packet) < 0 {
                    var owned: UnsafeMutablePointer<AVPacket>? = packet
                    av_packet_free(&owned)
                    break
                }
                let pts = packet.pointee.pts, dts = packet.pointee.dts
                try body(MediaPacket(streamIndex: stream.index, kind: .audio,
                                     pts: pts == FFmpeg.noTimestamp ? nil : pts, dts: dts == FFmpeg.noTimestamp ? nil : dts,
                                     duration: packet.pointee.duration, isKeyframe: true, timeBase: stream.timeBase,
                                     payload: PacketBuffer(taking: packet)))
            }
        }
    }
}
