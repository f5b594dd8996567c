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
    public func offset(by ticks: Int64) -> MediaPacket {
        var copy = self
        copy.pts = pts.map { $0 + ticks }
        copy.dts = dts.map { $0 + ticks }
        return copy
    }
}
