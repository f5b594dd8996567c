import CFFmpeg

/// The media layer's one error type: a code, the component it happened in, and FFmpeg's own words.
public struct MediaError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case open, streamInfo, noPlayableStream, read, timeout, cancelled, mux, unsupported, deviceNotFound, transcode, unauthorized
        /// The source policy refuses the destination.
        case notAllowed
    }

    public let code: Code
    public let component: String
    public let message: String
    public let ffmpegError: Int32?

    public init(_ code: Code, component: String, _ message: String, ffmpegError: Int32? = nil) {
        self.code = code
        self.component = component
        self.message = message
        self.ffmpegError = ffmpegError
    }

    /// The message with FFmpeg's reason, without the component: what a user may read.
    public var reason: String {
        ffmpegError.map { "\(message) (\(FFmpeg.errorString($0)))" } ?? message
    }

    public var description: String {
        var text = "\(component): \(message)"
        if let ffmpegError { text += " (\(FFmpeg.errorString(ffmpegError)))" }
        return text
    }
}

/// Process-wide FFmpeg set-up and helpers for the library's macros and strings.
public enum FFmpeg {
    private static let setUp: Void = {
        avformat_network_init()
        av_log_set_level(AV_LOG_ERROR)
        cffmpeg_install_log(InputLogHooks.lossHandler, InputLogHooks.redirectHandler)
    }()

    /// Registers devices and network protocols once; every entry point into FFmpeg calls this.
    public static func initialize() { _ = setUp }

    public static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { pointer in
            String(cString: cffmpeg_err2str(code, pointer.baseAddress, pointer.count))
        }
    }

    public static var noTimestamp: Int64 { cffmpeg_nopts() }
    public static var endOfFile: Int32 { cffmpeg_averror_eof() }
    public static var exitRequested: Int32 { cffmpeg_averror_exit() }
    public static func error(_ errno: Int32) -> Int32 { cffmpeg_averror(errno) }

    /// Whether this build of libavformat can read the input format `name` (`mpjpeg`, `v4l2`, …).
    public static func hasInputFormat(_ name: String) -> Bool { inputFormat(name) != nil }

    /// libavformat's input format `name`; capture devices (`v4l2`, `lavfi`, …) load libavdevice
    /// the first time one is asked for (see `cffmpeg_load_devices`).
    public static func inputFormat(_ name: String) -> UnsafePointer<AVInputFormat>? {
        initialize()
        if let format = av_find_input_format(name) { return format }
        _ = devices
        return av_find_input_format(name)
    }

    /// nil once libavdevice is loaded, else why it could not be.
    public static var devicesProblem: String? { devices }
    private static let devices: String? = {
        var message = [CChar](repeating: 0, count: 512)
        return message.withUnsafeMutableBufferPointer { pointer in
            cffmpeg_load_devices(pointer.baseAddress, pointer.count) == 0 ? nil : String(cString: pointer.baseAddress!)
        }
    }()

    /// libavformat/libavcodec versions, for `/api/health` and `gateway probe`.
    public static var versionDescription: String {
        func text(_ version: UInt32) -> String { "\(version >> 16).\((version >> 8) & 0xFF).\(version & 0xFF)" }
        return "libavformat \(text(avformat_version())), libavcodec \(text(avcodec_version()))"
    }
}
