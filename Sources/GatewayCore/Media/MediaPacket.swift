import CFFmpeg

/// A reference-counted AVPacket: fan-out to any number of readers shares one payload.
public final class PacketBuffer: @unchecked Sendable {
    let packet: UnsafeMutablePointer<AVPacket>

    /// Takes ownership of `packet`.
    init(taking packet: UnsafeMutablePointer<AVPacket>) { self.packet = packet }

    public convenience init(bytes: [UInt8]) {
        let packet = av_packet_alloc()!
        av_new_packet(packet, Int32(bytes.count))
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { packet.pointee.data.update(from: base, count: bytes.count) }
        }
        self.init(taking: packet)
    }

    deinit {
        var owned: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&owned)
    }

    public var count: Int { Int(packet.pointee.size) }
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The payload in place, without a copy.
    public func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: packet.pointee.data, count: count))
    }
}

/// One compressed frame. Timestamps are in `timeBase` ticks and may be adjusted (offset,
/// repaired) without touching the shared payload.
public struct MediaPacket: Sendable {
    public var streamIndex: Int
    public var kind: MediaKind
    public var pts: Int64?
    public var dts: Int64?
    public var duration: Int64
    public var isKeyframe: Bool
    public var timeBase: Rational
    public let payload: PacketBuffer
    /// When it reached the camera's hub (`MonotonicTime` nanoseconds); 0 before. Set once per
    /// published batch, so latency can be measured from the gateway's receipt of a frame.
    public var arrival: Int64 = 0

    public init(streamIndex: Int, kind: MediaKind, pts: Int64?, dts: Int64?, duration: Int64,
                isKeyframe: Bool, timeBase: Rational, payload: PacketBuffer) {
        self.streamIndex = streamIndex
        self.kind = kind
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.isKeyframe = isKeyframe
        self.timeBase = timeBase
        self.payload = payload
    }

    public var size: Int { payload.count }
    /// A video keyframe: where a new reader, a GOP, a segment may start.
    public var isVideoKeyframe: Bool { kind == .video && isKeyframe }
    /// Decode time in seconds, falling back to presentation time.
    public var decodeSeconds: Double? { (dts ?? pts).map { timeBase.seconds($0) } }

    /// Shifts both timestamps by `ticks` (used to keep time continuous across loops and reconnects).
    /// Saturates rather than trapping (timestamps are kept within `timestampLimit` on entry).
    public func offset(by ticks: Int64) -> MediaPacket {
        var copy = self
        copy.pts = pts.map { Self.add($0, ticks) }
        copy.dts = dts.map { Self.add($0, ticks) }
        return copy
    }

    // MARK: Bounds on what a source sends

    /// The largest timestamp a source may send, as a time: 2^47 µs (about 4.5 years). Beyond
    /// it — or where libavformat could not rescale it — a timestamp is treated as missing and
    /// repaired like one, so every sum of a few timestamps, offsets and durations downstream
    /// stays far inside `Int64`, whatever the time base.
    public static let timestampLimitMicroseconds: Int64 = 1 << 47
    /// The longest a packet may say it lasts (longer becomes 0: unknown).
    public static let maximumDurationSeconds: Double = 60

    static func maximumDurationTicks(in timeBase: Rational) -> Int64 { timeBase.ticks(seconds: maximumDurationSeconds) }

    /// Whether `ticks` of `timeBase` is a time within ±`timestampLimitMicroseconds`.
    static func isWithinLimit(_ ticks: Int64, timeBase: Rational) -> Bool {
        guard timeBase.numerator > 0, timeBase.denominator > 0 else { return false }
        let microseconds = timeBase.rescale(ticks, to: .microseconds)
        return microseconds != Int64.min && microseconds.magnitude <= UInt64(timestampLimitMicroseconds)
    }

    /// This packet as the rest of the gateway may take it: timestamps beyond the limit dropped
    /// (to be repaired), a duration beyond `maximumDurationSeconds` or negative made 0.
    public func bounded() -> MediaPacket {
        var copy = self
        if let pts, !Self.isWithinLimit(pts, timeBase: timeBase) { copy.pts = nil }
        if let dts, !Self.isWithinLimit(dts, timeBase: timeBase) { copy.dts = nil }
        if duration < 0 || duration > Self.maximumDurationTicks(in: timeBase) { copy.duration = 0 }
        return copy
    }

    private static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }
}
