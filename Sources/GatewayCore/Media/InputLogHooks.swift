import CFFmpeg
import Synchronization

/// What libavformat tells only its log, per open input (found by its `AVFormatContext`, the
/// log context): RTP packets lost on the way ("RTP: missed N packets", RTSP over UDP), and an
/// RTSP redirect, reported after the target URL is set and before it is connected. The log
/// callback in `Sources/CFFmpeg/shim.h` (installed by `FFmpeg.initialize`) calls the handlers
/// here; a `Demuxer` registers its context's hooks while it is open.
enum InputLogHooks {
    struct Hooks: Sendable {
        /// Told how many packets were lost.
        var onLoss: (@Sendable (Int) -> Void)?
        /// The URL to connect instead of a redirect target (e.g. the checked address), or nil
        /// to refuse it.
        var onRedirect: (@Sendable (String) -> String?)?
    }

    private struct Entry {
        var hooks: Hooks
        var redirectRefused = false
    }

    private static let entries = Mutex<[UInt: Entry]>([:])
    /// Where a refused redirect goes instead: libavformat's TCP layer rejects port 65536 before
    /// it creates a socket, so nothing is sent anywhere.
    static let nowhere = "rtsp://0.0.0.0:65536/refused-by-the-source-policy"

    static func register(_ context: UnsafeMutableRawPointer, _ hooks: Hooks) {
        entries.withLock { $0[UInt(bitPattern: context)] = Entry(hooks: hooks) }
    }

    /// Forgets the context; whether a redirect was refused while it was open.
    @discardableResult
    static func unregister(_ context: UnsafeMutableRawPointer) -> Bool {
        entries.withLock { $0.removeValue(forKey: UInt(bitPattern: context)) }?.redirectRefused ?? false
    }

    private static func hooks(_ context: UnsafeMutableRawPointer?) -> Hooks? {
        guard let context else { return nil }
        return entries.withLock { $0[UInt(bitPattern: context)]?.hooks }
    }

    /// A count outside 1…65535 (a sequence wrap the library did not correct) is not believed.
    static func reportLoss(context: UnsafeMutableRawPointer?, missed: Int) {
        guard (1...65_535).contains(missed) else { return }
        hooks(context)?.onLoss?(missed)
    }

    /// The URL libavformat should connect instead of `target`; nil to leave it.
    static func redirect(context: UnsafeMutableRawPointer?, target: String) -> String? {
        guard let context, let decide = hooks(context)?.onRedirect else { return nil }
        if let allowed = decide(target) { return allowed }
        entries.withLock { $0[UInt(bitPattern: context)]?.redirectRefused = true }
        return nowhere
    }

    static let lossHandler: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void = { context, missed in
        reportLoss(context: context, missed: Int(missed))
    }

    static let redirectHandler: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? = {
        context, target in
        guard let target, let replacement = redirect(context: context, target: String(cString: target)) else { return nil }
        return av_strdup(replacement)
    }
}
