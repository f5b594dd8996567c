/// Moves fMP4 fragments on the timeline without remuxing: the camera's fragments carry decode
/// times from the start of the source session, and a recording file should start at 0 (a
/// player of the file alone, and the stitcher, expect that). Only `tfdt` boxes are rewritten.
///
/// Walks the ISO BMFF boxes of our own writer's output; anything it does not understand is
/// left as it is (never a trap: every offset is checked against the buffer).
public enum FragmentTimeline {
    /// track_ID → timescale, from an init segment (`moov/trak/tkhd` and `moov/trak/mdia/mdhd`).
    public static func timescales(initSegment bytes: [UInt8]) -> [UInt32: UInt32] {
        var result: [UInt32: UInt32] = [:]
        for trak in children(of: box(named: "moov", in: bytes, range: 0..<bytes.count), in: bytes, named: "trak") {
            guard let tkhd = box(named: "tkhd", in: bytes, range: trak),
                  let mdia = box(named: "mdia", in: bytes, range: trak),
                  let mdhd = box(named: "mdhd", in: bytes, range: mdia) else { continue }
            let tkhdVersion = byte(bytes, tkhd.lowerBound)
            let mdhdVersion = byte(bytes, mdhd.lowerBound)
            guard let track = uint32(bytes, tkhd.lowerBound + (tkhdVersion == 1 ? 20 : 12)),
                  let timescale = uint32(bytes, mdhd.lowerBound + (mdhdVersion == 1 ? 20 : 12)), timescale > 0 else { continue }
            result[track] = timescale
        }
        return result
    }

    /// The decode time of each track's first sample in `fragment` (`moof/traf/tfdt`), in seconds.
    public static func decodeTimes(fragment bytes: [UInt8], timescales: [UInt32: UInt32]) -> [UInt32: Double] {
        var result: [UInt32: Double] = [:]
        forEachDecodeTime(in: bytes) { track, value, _, _ in
            if let timescale = timescales[track] { result[track] = Double(value) / Double(timescale) }
        }
        return result
    }

    /// A fragment moved on the timeline, in two pieces so that the media is not copied: `head`
    /// is a copy of the fragment's bytes up to and including its last `tfdt` (the `moof`), with
    /// the decode times rewritten; the rest is `original[head.count...]`, shared.
    public struct Shifted: Sendable {
        public let head: [UInt8]
        public let original: [UInt8]
        public var count: Int { original.count }
        /// The bytes after `head`.
        public func withBody<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try original.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[head.count...])) }
        }
        public var bytes: [UInt8] { head + original[head.count...] }
    }

    /// `fragment` with every track's decode time lowered by `seconds` (not below 0).
    public static func shifted(_ fragment: [UInt8], back seconds: Double, timescales: [UInt32: UInt32]) -> Shifted {
        var patches: [(offset: Int, value: UInt64, isWide: Bool)] = []
        forEachDecodeTime(in: fragment) { track, value, offset, isWide in
            guard let timescale = timescales[track] else { return }
            let shift = (seconds * Double(timescale)).rounded()
            guard shift.isFinite, shift >= 0, shift < 1.8e19 else { return }
            patches.append((offset, value > UInt64(shift) ? value - UInt64(shift) : 0, isWide))
        }
        let end = patches.map { $0.offset + ($0.isWide ? 8 : 4) }.max() ?? 0
        var head = Array(fragment[..<end])
        for patch in patches {
            if patch.isWide {
                for index in 0..<8 { head[patch.offset + index] = UInt8(truncatingIfNeeded: patch.value >> (56 - 8 * index)) }
            } else {
                let narrow = UInt32(clamping: patch.value)
                for index in 0..<4 { head[patch.offset + index] = UInt8(truncatingIfNeeded: narrow >> (24 - 8 * index)) }
            }
        }
        return Shifted(head: head, original: fragment)
    }

    // MARK: Boxes

    /// Calls `body(track, decodeTime, offsetOfTheValue, isWide)` for each `traf` of each `moof`.
    private static func forEachDecodeTime(in bytes: [UInt8], _ body: (UInt32, UInt64, Int, Bool) -> Void) {
        for moof in children(of: 0..<bytes.count, in: bytes, named: "moof") {
            for traf in children(of: moof, in: bytes, named: "traf") {
                guard let tfhd = box(named: "tfhd", in: bytes, range: traf), let track = uint32(bytes, tfhd.lowerBound + 4),
                      let tfdt = box(named: "tfdt", in: bytes, range: traf) else { continue }
                let wide = byte(bytes, tfdt.lowerBound) == 1
                let offset = tfdt.lowerBound + 4
                if wide, let value = uint64(bytes, offset) {
                    body(track, value, offset, true)
                } else if !wide, let value = uint32(bytes, offset) {
                    body(track, UInt64(value), offset, false)
                }
            }
        }
    }

    /// The payload ranges of the boxes called `name` directly inside `range`.
    private static func children(of range: Range<Int>?, in bytes: [UInt8], named name: String) -> [Range<Int>] {
        guard let range else { return [] }
        let wanted = Array(name.utf8)
        var found: [Range<Int>] = []
        var position = range.lowerBound
        while position + 8 <= range.upperBound, let size32 = uint32(bytes, position) {
            var header = 8
            var size = Int(size32)
            if size32 == 1 {
                guard let large = uint64(bytes, position + 8), large <= UInt64(Int.max) else { break }
                size = Int(large)
                header = 16
            } else if size32 == 0 {
                size = range.upperBound - position
            }
            guard size >= header, size <= range.upperBound - position else { break }
            if Array(bytes[position + 4..<position + 8]) == wanted { found.append(position + header..<position + size) }
            position += size
        }
        return found
    }

    private static func box(named name: String, in bytes: [UInt8], range: Range<Int>?) -> Range<Int>? {
        children(of: range, in: bytes, named: name).first
    }

    private static func byte(_ bytes: [UInt8], _ offset: Int) -> UInt8 {
        offset >= 0 && offset < bytes.count ? bytes[offset] : 0
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    private static func uint64(_ bytes: [UInt8], _ offset: Int) -> UInt64? {
        guard offset >= 0, offset + 8 <= bytes.count else { return nil }
        return bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
