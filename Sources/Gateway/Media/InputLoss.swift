import CFFmpeg
import Synchronization

/// Packets a network input lost on the way: the RTP sequence gaps libavformat's reorder queue
/// gives up waiting for (RTSP over UDP). libavformat reports them only in its log, with the
/// input's `AVFormatContext` as the log context; the log callback installed by
/// `FFmpeg.initialize` (`cffmpeg_install_log`) hands each count to whoever registered that context.
enum InputLoss {
    private static let sinks = Mutex<[UInt: @Sendable (Int) -> Void]>([:])

    static func register(_ context: UnsafeMutableRawPointer, _ sink: @escaping @Sendable (Int) -> Void) {
        sinks.withLock { $0[UInt(bitPattern: context)] = sink }
    }

    static func unregister(_ context: UnsafeMutableRawPointer) {
        _ = sinks.withLock { $0.removeValue(forKey: UInt(bitPattern: context)) }
    }

    /// A count outside 1…65535 (a sequence wrap the library did not correct) is not believed.
    static func report(context: UnsafeMutableRawPointer?, missed: Int) {
        guard let context, (1...65_535).contains(missed) else { return }
        let sink = sinks.withLock { $0[UInt(bitPattern: context)] }
        sink?(missed)
    }

    static let handler: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, missed in
        report(context: context, missed: Int(missed))
    }
}
