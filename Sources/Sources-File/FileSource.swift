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
        // Packets that are due leave together, before the pacer sleeps.
        var batch: [MediaPacket] = []
        func send() throws {
            guard !batch.isEmpty else { return }
            try output.publish(contentsOf: batch)
            batch.removeAll(keepingCapacity: true)
        }
        while true {
            var passEnd: Int64?
            while let packet = try demuxer.read() {
                let shifted = packet.offset(by: Rational.microseconds.rescale(offsetMicroseconds, to: packet.timeBase))
                if let dts = shifted.dts ?? shifted.pts {
                    let start = packet.timeBase.rescale(dts, to: .microseconds)
                    if firstMicroseconds == nil { firstMicroseconds = start }
                    let end = packet.timeBase.rescale(dts + max(packet.duration, 0), to: .microseconds)
                    passEnd = max(passEnd ?? end, end)
                    if var current = pacer {
                        let (wakeAt, lateness) = current.schedule(media: Double(start) / 1e6)
                        if let wakeAt {
                            try send()
                            try current.sleep(until: wakeAt)
                        }
                        pacer = current
                        if abs(lateness - reportedLateness) > 0.05 {
                            output.lateness(seconds: lateness)
                            reportedLateness = lateness
                        }
                    }
                }
                batch.append(shifted)
                if pacer == nil { try send() }
            }
            try send()
            guard configuration.loop, let passEnd, let firstMicroseconds else { return }
            if interruption.isCancelled { throw MediaError(.cancelled, component: demuxer.name, "cancelled") }
            offsetMicroseconds = passEnd - firstMicroseconds
            try demuxer.rewind()
        }
    }
}

/// Holds packets back until their time has come on the wall clock, in batches: it sleeps at
/// least `quantum` at a time, and every packet due by then leaves together when it wakes, so a
/// camera's thread (and the hub's readers behind it) wake 5 times a second instead of once per
/// packet. No packet leaves before its time.
struct Pacer {
    let interruption: Interruption
    let quantum: Double
    private var anchor: (wall: Double, media: Double)?
    private var lastWake = 0.0

    init(interruption: Interruption, quantum: Double = 0.2) {
        self.interruption = interruption
        self.quantum = quantum
    }

    /// When to sleep until before the packet at `media` may leave (nil: it may leave now), and
    /// how late it is (seconds; 0 when it is on time).
    mutating func schedule(media: Double) -> (wakeAt: Double?, lateness: Double) {
        let now = MonotonicTime.seconds()
        guard let anchor else {
            self.anchor = (now, media)
            lastWake = now
            return (nil, 0)
        }
        let due = anchor.wall + (media - anchor.media)
        if due - now < -1 {
            // Far behind (the process was stalled): start a new timeline instead of bursting.
            self.anchor = (now, media)
            return (nil, now - due)
        }
        guard due > now else { return (nil, now - due) }
        return (max(due, lastWake + quantum), 0)
    }

    mutating func sleep(until wakeAt: Double) throws {
        var delay = wakeAt - MonotonicTime.seconds()
        while delay > 0 {
            if interruption.isCancelled { throw MediaError(.cancelled, component: "file", "cancelled") }
            // One sleep per batch: cancellation is seen within a quantum.
            usleep(useconds_t(min(delay, quantum + 0.05) * 1e6))
            lastWake = MonotonicTime.seconds()
            delay = wakeAt - lastWake
        }
    }
}
