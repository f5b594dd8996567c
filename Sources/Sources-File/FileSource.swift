import GatewayCore
#if canImport(Glibc)
import Glibc
#endif

/// Plays a media file at real-time pace, like a live camera (`type: "file"`). With `loop` it
/// starts over with timestamps that continue where the last pass ended.
public struct FileSource: SourceAdapter {
    public static let type = "file"

    private let configuration: Configuration
    private let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }

    public func run(output: any SourceOutput) async throws {
        let interruption = Interruption()
        let configuration = configuration
        try await BlockingThread.run(name: "file:\(context.id)", onCancel: interruption.cancel) {
            try Self.play(configuration, into: output, interruption: interruption)
        }
    }

    static func play(_ configuration: Configuration, into output: any SourceOutput, interruption: Interruption) throws {
        let demuxer = try Demuxer(url: configuration.path, options: .init(displayName: configuration.path), interruption: interruption)
        try output.begin(demuxer.streams)
        var pacer = configuration.pacing == .realtime ? Pacer(interruption: interruption) : nil
        var offsetMicroseconds: Int64 = 0
        var firstMicroseconds: Int64?
        var reportedLateness = 0.0
        while true {
            var passEnd: Int64?
            while let packet = try demuxer.read() {
                let shifted = packet.offset(by: Rational.microseconds.rescale(offsetMicroseconds, to: packet.timeBase))
                if let dts = shifted.dts ?? shifted.pts {
                    let start = packet.timeBase.rescale(dts, to: .microseconds)
                    if firstMicroseconds == nil { firstMicroseconds = start }
                    let end = packet.timeBase.rescale(dts + max(packet.duration, 0), to: .microseconds)
                    passEnd = max(passEnd ?? end, end)
                    if let lateness = try pacer?.wait(untilMedia: Double(start) / 1e6), abs(lateness - reportedLateness) > 0.05 {
                        output.lateness(seconds: lateness)
                        reportedLateness = lateness
                    }
                }
                try output.publish(shifted)
            }
            guard configuration.loop, let passEnd, let firstMicroseconds else { return }
            if interruption.isCancelled { throw MediaError(.cancelled, component: demuxer.name, "cancelled") }
            offsetMicroseconds = passEnd - firstMicroseconds
            try demuxer.rewind()
        }
    }
}

/// Holds packets back until their time has come on the wall clock, in batches: it sleeps at
/// least `quantum` at a time and then lets out every packet that is due, so a camera's thread
/// (and the hub's readers behind it) wake about 10 times a second instead of once per packet.
/// No packet leaves before its time.
struct Pacer {
    let interruption: Interruption
    let quantum: Double
    private var anchor: (wall: Double, media: Double)?
    private var lastWake = 0.0

    init(interruption: Interruption, quantum: Double = 0.1) {
        self.interruption = interruption
        self.quantum = quantum
    }

    /// Returns how late the packet leaves (seconds, 0 when on time or early by less than a
    /// quantum's batching).
    mutating func wait(untilMedia media: Double) throws -> Double {
        let now = MonotonicTime.seconds()
        guard let anchor else {
            self.anchor = (now, media)
            lastWake = now
            return 0
        }
        let due = anchor.wall + (media - anchor.media)
        if due - now < -1 {
            // Far behind (the process was stalled): start a new timeline instead of bursting.
            self.anchor = (now, media)
            return now - due
        }
        guard due > now else { return now - due }
        let wakeAt = max(due, lastWake + quantum)
        var delay = wakeAt - now
        while delay > 0 {
            if interruption.isCancelled { throw MediaError(.cancelled, component: "file", "cancelled") }
            usleep(useconds_t(min(delay, 0.05) * 1e6))
            lastWake = MonotonicTime.seconds()
            delay = wakeAt - lastWake
        }
        return 0
    }
}
