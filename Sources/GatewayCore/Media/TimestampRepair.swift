/// Makes a camera's timestamps safe for the sinks, across every session of the camera:
///
/// - a packet without pts/dts gets one: the previous packet's plus a frame when the stream has
///   timestamps, its arrival time when it has none (`ArrivalClock`: smoothed, on the frame grid);
/// - dts only grows per stream, and pts is never before dts;
/// - a new session (reconnect) continues where the last one ended plus the wall-clock time the
///   camera was away, so time never goes backwards for a sink and media time keeps pace with
///   the wall clock (clips and recordings stay aligned);
/// - a jump inside a session (the camera reset its clock, or skipped far ahead) is folded the
///   same way, so one bad timestamp cannot stall or burst a sink.
///
/// A value type, fed by the one thread that runs a source; times in nanoseconds are monotonic.
public struct TimestampRepair: Sendable {
    /// A step backwards larger than this (or forwards beyond the wall clock by `maximumJump`) is
    /// a discontinuity rather than jitter.
    public var maximumBackstep: Int64 = 1_000_000
    public var maximumJump: Int64 = 10_000_000

    private var streams: [MediaStream] = []
    /// Microseconds added to the source's own time in this session; nil until its first packet.
    private var offset: Int64?
    private var sessionStartedAt: Int64 = 0
    /// Output dts of each stream's last packet, in its time base.
    private var lastDTS: [Int64?] = []
    /// Whether each stream carried its own timestamps in this session.
    private var hasTimestamps: [Bool] = []
    /// End of the latest packet on the output timeline (µs) and when it was seen (ns).
    private var lastEnd: Int64?
    private var lastSeenAt: Int64?
    /// Per stream, for streams without timestamps: their time by arrival.
    private var clocks: [ArrivalClock?] = []
    public private(set) var repairs = 0
    public private(set) var discontinuities = 0

    public init() {}

    /// A session begins with `streams`.
    public mutating func begin(_ streams: StreamSet, now: Int64) {
        self.streams = streams.streams
        offset = nil
        sessionStartedAt = now
        lastDTS = Array(repeating: nil, count: streams.streams.count)
        hasTimestamps = Array(repeating: false, count: streams.streams.count)
        clocks = Array(repeating: nil, count: streams.streams.count)
    }

    /// `packet` with repaired timestamps; `now` is the monotonic time it arrived, in nanoseconds.
    public mutating func repair(_ packet: MediaPacket, now: Int64) -> MediaPacket {
        let packet = packet.bounded()
        let index = packet.streamIndex
        guard index < streams.count else { return packet }
        let stream = streams[index]
        let timeBase = packet.timeBase
        var out = packet

        // The packet's own time, in its time base.
        let sourceTime: Int64
        if let own = packet.dts ?? packet.pts {
            sourceTime = own
            hasTimestamps[index] = true
        } else {
            repairs += 1
            if hasTimestamps[index], let last = lastDTS[index], let offset {
                sourceTime = last - Rational.microseconds.rescale(offset, to: timeBase) + stream.nominalPacketDuration
            } else {
                if clocks[index] == nil {
                    clocks[index] = ArrivalClock(frame: stream.nominalPacketDuration, second: timeBase.ticks(seconds: 1))
                }
                sourceTime = clocks[index]!.time(arrival: Rational.microseconds.rescale((now - sessionStartedAt) / 1000, to: timeBase))
            }
        }
        let sourceMicroseconds = timeBase.rescale(sourceTime, to: .microseconds)

        // Where this session sits on the camera's timeline.
        let continuation = lastEnd.map { $0 + max(0, (now - (lastSeenAt ?? now)) / 1000) }
        if offset == nil {
            offset = continuation.map { $0 - sourceMicroseconds } ?? 0
        } else if let continuation, let lastEnd {
            let mapped = sourceMicroseconds + offset!
            let streamLast = lastDTS[index].map { timeBase.rescale($0, to: .microseconds) } ?? lastEnd
            if mapped < streamLast - maximumBackstep || mapped > continuation + maximumJump {
                discontinuities += 1
                offset = continuation - sourceMicroseconds
            }
        }
        let shift = Rational.microseconds.rescale(offset!, to: timeBase)

        var dts = sourceTime + shift
        if let last = lastDTS[index], dts <= last {
            if packet.dts != nil || packet.pts != nil { repairs += 1 }
            dts = last + 1
        }
        let pts = max(packet.pts.map { $0 + shift } ?? dts, dts)
        out.dts = dts
        out.pts = pts
        lastDTS[index] = dts
        let duration = packet.duration > 0 ? packet.duration : stream.nominalPacketDuration
        let end = timeBase.rescale(dts + duration, to: .microseconds)
        lastEnd = max(lastEnd ?? end, end)
        lastSeenAt = now
        return out
    }
}
