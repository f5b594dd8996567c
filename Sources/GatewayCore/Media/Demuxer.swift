import CFFmpeg
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Decides whether a blocking FFmpeg call should give up: on request (`cancel()`) or when the
/// current operation has run past its deadline. Read by FFmpeg's interrupt callback. A source
/// creates one before opening, so that cancellation also reaches a connect that is blocking.
public final class Interruption: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let deadline = Atomic<Int64>(0)
    private let timedOut = Atomic<Bool>(false)

    func arm(_ timeout: Duration?) {
        timedOut.store(false, ordering: .relaxed)
        guard let timeout else { deadline.store(0, ordering: .relaxed); return }
        let (seconds, attoseconds) = timeout.components
        deadline.store(MonotonicTime.nanoseconds() + seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    public init() {}

    public func cancel() { cancelled.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    var didTimeOut: Bool { timedOut.load(ordering: .relaxed) }

    var shouldInterrupt: Bool {
        if cancelled.load(ordering: .relaxed) { return true }
        let due = deadline.load(ordering: .relaxed)
        if due != 0, MonotonicTime.nanoseconds() > due {
            timedOut.store(true, ordering: .relaxed)
            return true
        }
        return false
    }
}

private let interruptCallback: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { opaque in
    guard let opaque else { return 0 }
    return Unmanaged<Interruption>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt ? 1 : 0
}

/// Reads packets from anything libavformat can open: files, RTSP, HTTP, devices.
/// Keeps the best video stream and the best audio stream, renumbered 0 and 1 in that order.
/// Blocking: call it from a dedicated thread (`BlockingThread`), never from the cooperative pool.
public final class Demuxer: @unchecked Sendable {
    public struct Options: Sendable {
        /// Input format name (`v4l2`, `lavfi`, `mjpeg`, …); nil lets libavformat probe.
        public var format: String?
        /// Demuxer and protocol options (`rtsp_transport`, `video_size`, …).
        public var options: [String: String]
        /// Longest time one open or read may block before it is interrupted.
        public var timeout: Duration?
        /// How the input is named in errors and logs; credentials never appear in it.
        public var displayName: String?
        /// Told how many packets the network lost, each time libavformat gives up on a gap.
        public var onLoss: (@Sendable (Int) -> Void)?
        /// Decides an RTSP redirect before it is followed: the URL to connect instead, or nil to
        /// refuse it (the open then fails with `.notAllowed`).
        public var onRedirect: (@Sendable (String) -> String?)?

        public init(format: String? = nil, options: [String: String] = [:], timeout: Duration? = nil, displayName: String? = nil) {
            self.format = format
            self.options = options
            self.timeout = timeout
            self.displayName = displayName
        }
    }

    private var context: UnsafeMutablePointer<AVFormatContext>?
    private let flag: Interruption
    private var hooksRegistered = false
    private let timeout: Duration?
    /// Input stream index → index in `streams`.
    private let selection: [Int32: Int]
    public let streams: StreamSet
    public let name: String
    public let formatName: String
    /// Every stream in the input, selected or not (for `gateway probe`).
    public let allStreams: [MediaStream]

    public init(url: String, options: Options = Options(), interruption: Interruption = Interruption()) throws {
        FFmpeg.initialize()
        flag = interruption
        name = options.displayName ?? URLRedaction.redact(url)
        timeout = options.timeout
        guard var context = avformat_alloc_context() else { throw MediaError(.open, component: name, "out of memory") }
        context.pointee.interrupt_callback = AVIOInterruptCB(
            callback: interruptCallback, opaque: Unmanaged.passUnretained(flag).toOpaque())
        var dictionary: OpaquePointer?
        for (key, value) in options.options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        let inputFormat = options.format.flatMap { FFmpeg.inputFormat($0) }
        if let format = options.format, inputFormat == nil {
            avformat_free_context(context)
            throw MediaError(.unsupported, component: name, "input format '\(format)' is not available in this FFmpeg build"
                             + (FFmpeg.devicesProblem.map { " (\($0))" } ?? ""))
        }
        flag.arm(options.timeout)
        hooksRegistered = options.onLoss != nil || options.onRedirect != nil
        if hooksRegistered { InputLogHooks.register(context, .init(onLoss: options.onLoss, onRedirect: options.onRedirect)) }
        var optional: UnsafeMutablePointer<AVFormatContext>? = context
        let opened = avformat_open_input(&optional, url, inputFormat, &dictionary)
        guard opened >= 0, let openedContext = optional else {
            if hooksRegistered, InputLogHooks.unregister(context) {
                throw MediaError(.notAllowed, component: name, "redirected to a destination the source policy does not allow")
            }
            throw Self.openFailure(opened, name: name, flag: flag, timeout: options.timeout)
        }
        context = openedContext
        self.context = context
        flag.arm(options.timeout)
        // Probing decodes a frame or two of each stream. Frame threading would give each of
        // (cores + 1) threads its own decoder state and frames, megabytes per camera that are
        // freed at once but leave the heap fragmented; one thread is plenty for a frame or two.
        let streamCount = Int(context.pointee.nb_streams)
        var probeOptions = [OpaquePointer?](repeating: nil, count: streamCount)
        for index in 0..<streamCount { av_dict_set(&probeOptions[index], "threads", "1", 0) }
        let info = probeOptions.withUnsafeMutableBufferPointer { avformat_find_stream_info(context, $0.baseAddress) }
        for index in 0..<streamCount { av_dict_free(&probeOptions[index]) }
        if info < 0 {
            Self.release(&self.context, hooksRegistered: hooksRegistered)
            throw MediaError(flag.isCancelled ? .cancelled : flag.didTimeOut ? .timeout : .streamInfo, component: name, "cannot read stream information", ffmpegError: info)
        }
        formatName = String(cString: context.pointee.iformat.pointee.name)

        var all: [MediaStream] = []
        for index in 0..<Int(context.pointee.nb_streams) {
            let stream = context.pointee.streams[index]!
            all.append(Self.describe(stream, index: index))
        }
        allStreams = all
        var selection: [Int32: Int] = [:]
        var selected: [MediaStream] = []
        for type in [AVMEDIA_TYPE_VIDEO, AVMEDIA_TYPE_AUDIO] {
            let best = av_find_best_stream(context, type, -1, -1, nil, 0)
            guard best >= 0 else { continue }
            selection[best] = selected.count
            selected.append(Self.describe(context.pointee.streams[Int(best)]!, index: selected.count))
        }
        for index in 0..<Int(context.pointee.nb_streams) where selection[Int32(index)] == nil {
            context.pointee.streams[index]!.pointee.discard = AVDISCARD_ALL
        }
        guard !selected.isEmpty else {
            Self.release(&self.context, hooksRegistered: hooksRegistered)
            throw MediaError(.noPlayableStream, component: name, "no audio or video stream")
        }
        self.selection = selection
        streams = StreamSet(streams: selected)
    }

    deinit { Self.release(&context, hooksRegistered: hooksRegistered) }

    private static func release(_ context: inout UnsafeMutablePointer<AVFormatContext>?, hooksRegistered: Bool) {
        if hooksRegistered, let context { InputLogHooks.unregister(context) }
        avformat_close_input(&context)
    }

    /// Says in plain words why an input did not open; camera servers' HTTP-style refusals first.
    private static func openFailure(_ result: Int32, name: String, flag: Interruption, timeout: Duration?) -> MediaError {
        if flag.isCancelled { return MediaError(.cancelled, component: name, "cancelled while connecting") }
        if flag.didTimeOut { return MediaError(.timeout, component: name, "no answer within \(timeout.map { "\($0.seconds) s" } ?? "the timeout")") }
        switch result {
        case cffmpeg_averror_http_unauthorized():
            return MediaError(.unauthorized, component: name, "the server refused the credentials (401 Unauthorized)", ffmpegError: result)
        case cffmpeg_averror_http_forbidden():
            return MediaError(.unauthorized, component: name, "access is forbidden (403 Forbidden)", ffmpegError: result)
        case cffmpeg_averror_http_not_found():
            return MediaError(.open, component: name, "no such stream on the server (404 Not Found)", ffmpegError: result)
        case FFmpeg.error(ENOENT):
            return MediaError(.deviceNotFound, component: name, "\(name) does not exist", ffmpegError: result)
        case FFmpeg.error(ECONNREFUSED):
            return MediaError(.open, component: name, "connection refused", ffmpegError: result)
        default:
            return MediaError(.open, component: name, "cannot open \(name)", ffmpegError: result)
        }
    }

    private static func describe(_ stream: UnsafeMutablePointer<AVStream>, index: Int) -> MediaStream {
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        let fps = rate.num > 0 && rate.den > 0 ? Double(rate.num) / Double(rate.den) : nil
        return MediaStream(index: index, timeBase: Rational(stream.pointee.time_base),
                           parameters: CodecParameters(copying: stream.pointee.codecpar),
                           frameRate: MediaKind(stream.pointee.codecpar.pointee.codec_type) == .video ? fps : nil)
    }

    /// Container duration in seconds, when known (files; not live inputs).
    public var duration: Double? {
        guard let context, context.pointee.duration > 0 else { return nil }
        return Double(context.pointee.duration) / Double(AV_TIME_BASE)
    }

    public var bitRate: Int { Int(context?.pointee.bit_rate ?? 0) }

    /// The input's URL after open: differs from the one given when the server redirected.
    public var finalURL: String? { context?.pointee.url.map { String(cString: $0) } }

    /// Only seekable inputs may be rewound; a seek on a live input can hang forever.
    public var isSeekable: Bool { (context?.pointee.pb?.pointee.seekable ?? 0) != 0 }

    /// Makes a blocked or future read fail with `.cancelled`. Safe from any thread.
    public func interrupt() { flag.cancel() }

    /// The next packet of a selected stream, or nil at the end of the input.
    public func read() throws -> MediaPacket? {
        guard let context else { return nil }
        while true {
            // Inputs that do no I/O (lavfi) never consult the interrupt callback.
            if flag.isCancelled { throw MediaError(.cancelled, component: name, "read cancelled") }
            guard let packet = av_packet_alloc() else { throw MediaError(.read, component: name, "out of memory") }
            flag.arm(timeout)
            let result = av_read_frame(context, packet)
            if result < 0 {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
                if flag.isCancelled { throw MediaError(.cancelled, component: name, "read cancelled") }
                if flag.didTimeOut { throw MediaError(.timeout, component: name, "no data for \(timeout!)") }
                if result == FFmpeg.endOfFile { return nil }
                throw MediaError(.read, component: name, "read failed", ffmpegError: result)
            }
            guard let index = selection[packet.pointee.stream_index] else {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
                continue
            }
            let stream = streams.streams[index]
            let noTimestamp = FFmpeg.noTimestamp
            let pts = packet.pointee.pts, dts = packet.pointee.dts
            return MediaPacket(
                streamIndex: index, kind: stream.kind,
                pts: pts == noTimestamp ? nil : pts, dts: dts == noTimestamp ? nil : dts,
                duration: packet.pointee.duration, isKeyframe: packet.pointee.flags & AV_PKT_FLAG_KEY != 0,
                timeBase: stream.timeBase, payload: PacketBuffer(taking: packet)).bounded()
        }
    }

    /// Goes back to the start of a seekable input.
    public func rewind() throws {
        guard let context, isSeekable else { throw MediaError(.unsupported, component: name, "input is not seekable") }
        let result = avformat_seek_file(context, -1, Int64.min, 0, 0, 0)
        if result < 0 { throw MediaError(.read, component: name, "cannot seek to the start", ffmpegError: result) }
    }
}
