import Foundation

/// An RTP packet's fixed header (RFC 3550 §5.1) and where its payload is.
struct RTPHeader {
    var marker: Bool
    var payloadType: UInt8
    var sequence: UInt16
    var timestamp: UInt32
    var payload: Range<Int>

    /// Parses `bytes`; nil for anything that is not RTP version 2 or whose lengths do not fit.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 12, bytes[0] >> 6 == 2 else { return nil }
        let csrcCount = Int(bytes[0] & 0x0F)
        var start = 12 + 4 * csrcCount
        guard bytes.count >= start else { return nil }
        if bytes[0] & 0x10 != 0 {  // a header extension: 4 bytes, then its length in words
            guard bytes.count >= start + 4 else { return nil }
            start += 4 + 4 * (Int(bytes[start + 2]) << 8 | Int(bytes[start + 3]))
            guard bytes.count >= start else { return nil }
        }
        var end = bytes.count
        if bytes[0] & 0x20 != 0 {  // padding: its length is the last byte
            let padding = Int(bytes[end - 1])
            guard padding > 0, end - padding >= start else { return nil }
            end -= padding
        }
        marker = bytes[1] & 0x80 != 0
        payloadType = bytes[1] & 0x7F
        sequence = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        timestamp = UInt32(bytes[4]) << 24 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 8 | UInt32(bytes[7])
        payload = start..<end
    }
}

/// A frame out of RTP: its bytes (valid during the call), its RTP time (unwrapped), and whether
/// a decoder can start at it.
typealias FrameSink = (_ bytes: UnsafeRawBufferPointer, _ timestamp: Int64, _ isKeyframe: Bool) -> Void

/// H.264 (RFC 6184) and H.265 (RFC 7798) payloads to access units in Annex B (start codes), as
/// libavformat's RTSP demuxer gives them: single NAL units, aggregation packets (STAP-A, AP) and
/// fragmentation units (FU-A, FU). An access unit ends at the marker bit or when the timestamp
/// changes. A fragmented NAL unit that lost a piece is dropped; the rest of its frame goes on
/// (the decoder conceals, as with libavformat). Parameter sets seen in-band are kept, for a
/// camera whose SDP does not carry them.
final class NALDepacketizer {
    let isHEVC: Bool
    private var unit: [UInt8] = []
    private var timestamp: Int64 = 0
    private var keyframe = false
    private var fragmentOpen = false
    /// In-band parameter sets by NAL type (H.264: 7 SPS, 8 PPS; H.265: 32 VPS, 33 SPS, 34 PPS).
    private(set) var parameterSets: [Int: [UInt8]] = [:]
    /// Parameter sets from the SDP, NAL units without start codes.
    private(set) var seeded: [[UInt8]] = []
    static let maximumUnit = 16 << 20

    init(isHEVC: Bool) {
        self.isHEVC = isHEVC
        unit.reserveCapacity(256 << 10)
    }

    func seed(_ sets: [[UInt8]]) { seeded = sets }

    /// The parameter sets to open the stream with: the SDP's, else those seen in-band.
    var extradata: [UInt8] {
        seeded.isEmpty ? inBandExtradata : seeded.flatMap { [0, 0, 0, 1] + $0 }
    }

    private func type(of header: UInt8) -> Int { isHEVC ? Int(header >> 1) & 0x3F : Int(header & 0x1F) }
    private func isKeyframe(_ type: Int) -> Bool { isHEVC ? (16...21).contains(type) : type == 5 }
    private func isParameterSet(_ type: Int) -> Bool { isHEVC ? (32...34).contains(type) : type == 7 || type == 8 }

    /// The parameter sets seen in-band, in Annex B, in decoding order; empty until an SPS and a
    /// PPS (and for H.265 a VPS) were seen.
    var inBandExtradata: [UInt8] {
        let types = isHEVC ? [32, 33, 34] : [7, 8]
        guard types.allSatisfy({ parameterSets[$0] != nil }) else { return [] }
        return types.flatMap { [0, 0, 0, 1] + parameterSets[$0]! }
    }

    private func appendNAL(_ nal: UnsafeRawBufferPointer) {
        guard !nal.isEmpty, unit.count + nal.count + 4 <= Self.maximumUnit else { return }
        let type = type(of: nal[0])
        if isKeyframe(type) { keyframe = true }
        if isParameterSet(type) { parameterSets[type] = Array(nal) }
        unit += [0, 0, 0, 1]
        unit.append(contentsOf: nal)
    }

    private func finish(_ emit: FrameSink) {
        fragmentOpen = false
        fragmentStart = nil
        guard !unit.isEmpty else { return }
        unit.withUnsafeBytes { emit($0, timestamp, keyframe) }
        unit.removeAll(keepingCapacity: true)
        keyframe = false
    }

    /// One RTP payload; `gap`: packets were lost just before it.
    func push(_ payload: UnsafeRawBufferPointer, timestamp: Int64, marker: Bool, gap: Bool, emit: FrameSink) {
        if !unit.isEmpty, timestamp != self.timestamp { finish(emit) }
        self.timestamp = timestamp
        if gap, fragmentOpen {
            // The fragmented NAL unit lost a piece: drop what was gathered of it.
            if let start = fragmentStart { unit.removeSubrange(start...) }
            fragmentOpen = false
            fragmentStart = nil
        }
        let headerSize = isHEVC ? 2 : 1
        guard payload.count > headerSize else { return }
        let type = type(of: payload[0])
        switch (isHEVC, type) {
        case (false, 24), (true, 48):  // STAP-A / AP: 16-bit sizes, each followed by a NAL unit
            var offset = headerSize
            while offset + 2 <= payload.count {
                let size = Int(payload[offset]) << 8 | Int(payload[offset + 1])
                offset += 2
                guard size > 0, offset + size <= payload.count else { break }
                appendNAL(UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + size)]))
                offset += size
            }
        case (false, 28), (true, 49):  // FU-A / FU
            guard payload.count > headerSize + 1 else { break }
            let fu = payload[headerSize]
            let isStart = fu & 0x80 != 0
            let isEnd = fu & 0x40 != 0
            let body = UnsafeRawBufferPointer(rebasing: payload[(headerSize + 1)...])
            if isStart {
                if fragmentOpen, let start = fragmentStart { unit.removeSubrange(start...) }
                // The NAL unit's own header, rebuilt from the indicator and the FU header.
                let header: [UInt8] = isHEVC
                    ? [(payload[0] & 0x81) | ((fu & 0x3F) << 1), payload[1]]
                    : [(payload[0] & 0xE0) | (fu & 0x1F)]
                guard unit.count + header.count + body.count + 4 <= Self.maximumUnit else { break }
                fragmentStart = unit.count
                unit += [0, 0, 0, 1] + header
                unit.append(contentsOf: body)
                fragmentOpen = true
            } else if fragmentOpen {
                guard unit.count + body.count <= Self.maximumUnit else {
                    if let start = fragmentStart { unit.removeSubrange(start...) }
                    fragmentOpen = false
                    break
                }
                unit.append(contentsOf: body)
            }
            if isEnd, fragmentOpen {
                fragmentOpen = false
                if let start = fragmentStart {
                    let nalType = self.type(of: unit[start + 4])
                    // A keyframe only once its slice is whole.
                    if isKeyframe(nalType) { keyframe = true }
                    if isParameterSet(nalType) { parameterSets[nalType] = Array(unit[(start + 4)...]) }
                }
                fragmentStart = nil
            }
        case (false, 1...23), (true, 0...47):
            appendNAL(payload)
        default:
            break  // STAP-B, MTAP, FU-B, PACI: not sent by cameras in non-interleaved mode
        }
        if marker { finish(emit) }
    }

    private var fragmentStart: Int?
}

/// AAC in RFC 3640's `mpeg4-generic` (AAC-hbr and AAC-lbr): a section of AU headers (each a
/// size and an index), then the access units; one raw AAC frame per packet out, each 1024
/// samples after the one before it. An access unit fragmented over several packets is put back
/// together.
final class AACDepacketizer {
    let sizeLength: Int
    let indexLength: Int
    let indexDeltaLength: Int
    private var fragment: [UInt8] = []
    private var fragmentSize = 0
    static let maximumFrame = 64 << 10
    /// Bytes of a fragmented access unit gathered so far.
    var gathered: Int { fragment.count }

    /// From the SDP's fmtp; nil for a mode this does not read (CTS/DTS deltas, auxiliary data, a
    /// constant size).
    init?(parameters: [String: String]) {
        func number(_ key: String) -> Int? { parameters[key].flatMap { Int($0) } }
        sizeLength = number("sizelength") ?? 0
        indexLength = number("indexlength") ?? 0
        indexDeltaLength = number("indexdeltalength") ?? 0
        guard (1...32).contains(sizeLength), (0...32).contains(indexLength), (0...32).contains(indexDeltaLength),
              (number("ctsdeltalength") ?? 0) == 0, (number("dtsdeltalength") ?? 0) == 0,
              (number("auxiliarydatasizelength") ?? 0) == 0, (number("constantsize") ?? 0) == 0 else { return nil }
    }

    func push(_ payload: UnsafeRawBufferPointer, timestamp: Int64, marker: Bool, gap: Bool, emit: FrameSink) {
        if gap { fragment.removeAll(keepingCapacity: true) }
        guard payload.count >= 2 else { return }
        let headerBits = Int(payload[0]) << 8 | Int(payload[1])
        let headerBytes = (headerBits + 7) / 8
        guard payload.count >= 2 + headerBytes else { return }
        var bits = BitReader(UnsafeRawBufferPointer(rebasing: payload[2..<(2 + headerBytes)]))
        var sizes: [Int] = []
        var consumed = 0
        while consumed + sizeLength <= headerBits {
            let index = sizes.isEmpty ? indexLength : indexDeltaLength
            guard consumed + sizeLength + index <= headerBits, let size = bits.read(sizeLength), bits.read(index) != nil else { break }
            consumed += sizeLength + index
            sizes.append(size)
        }
        var offset = 2 + headerBytes
        if sizes.count == 1, offset + sizes[0] > payload.count || !fragment.isEmpty {
            // A fragment of one access unit larger than the packet (an AAC frame is at most
            // 768 bytes per channel: anything beyond 64 KiB is not one).
            guard sizes[0] <= Self.maximumFrame else {
                fragment.removeAll(keepingCapacity: true)
                return
            }
            if fragment.isEmpty { fragmentSize = sizes[0] }
            guard fragmentSize == sizes[0], fragment.count + payload.count - offset <= fragmentSize else {
                fragment.removeAll(keepingCapacity: true)
                return
            }
            fragment.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[offset...]))
            if fragment.count == fragmentSize {
                fragment.withUnsafeBytes { emit($0, timestamp, true) }
                fragment.removeAll(keepingCapacity: true)
            }
            return
        }
        for (position, size) in sizes.enumerated() {
            guard size > 0, offset + size <= payload.count else { return }
            emit(UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + size)]), timestamp + Int64(position) * 1024, true)
            offset += size
        }
    }
}

/// Big-endian bits, for RFC 3640's AU headers.
struct BitReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func read(_ count: Int) -> Int? {
        guard count <= 32, position + count <= bytes.count * 8 else { return nil }
        var value = 0
        for _ in 0..<count {
            value = value << 1 | Int(bytes[position >> 3] >> (7 - UInt8(position & 7)) & 1)
            position += 1
        }
        return value
    }
}
