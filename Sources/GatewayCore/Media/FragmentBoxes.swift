import CFFmpeg
#if canImport(Glibc)
import Glibc
#endif

/// Writes fMP4 fragments (moof + mdat, ISO/IEC 14496-12 §8.8) itself, for the streams whose
/// samples go into MP4 as they are: H.264/H.265 (length-prefixed, or Annex B converted as
/// libavformat's muxer does) and AAC with an AudioSpecificConfig (ADTS headers dropped). libavformat's muxer still
/// writes the init segment, so the track IDs and timescales are its own; what this saves is
/// the muxer's per-packet work and its three copies of every byte (its growing fragment
/// buffer, our AVIO callback, the fragment): the payload is copied once, from the packet into
/// the fragment.
struct FragmentBoxes {
    struct Sample {
        let packet: MediaPacket
        /// The NAL units with 4-byte lengths, when the packet came in Annex B.
        let converted: [UInt8]?
        /// In the track's timescale.
        let dts: Int64
        let compositionOffset: Int64
        let duration: Int64
        let isKeyframe: Bool

        var size: Int { converted?.count ?? packet.size }
    }

    struct Track {
        let trackID: UInt32
        let isVideo: Bool
        let annexB: Bool
        var samples: [Sample] = []
    }

    private var tracks: [Track]

    /// nil when a stream needs libavformat's muxer (other codecs).
    init?(streams: StreamSet) {
        var tracks: [Track] = []
        for stream in streams.streams {
            let parameters = stream.parameters
            let extradata = parameters.extradata
            switch parameters.pointer.pointee.codec_id {
            case AV_CODEC_ID_H264, AV_CODEC_ID_HEVC:
                // avcC/hvcC start with version 1; anything else is Annex B parameter sets.
                tracks.append(Track(trackID: UInt32(tracks.count + 1), isVideo: true, annexB: extradata.first != 1))
            case AV_CODEC_ID_AAC where !extradata.isEmpty:
                tracks.append(Track(trackID: UInt32(tracks.count + 1), isVideo: false, annexB: false))
            default:
                return nil
            }
        }
        self.tracks = tracks
    }

    /// Adds a sample; timestamps already in the track's timescale.
    mutating func append(_ packet: MediaPacket, track index: Int, dts: Int64, pts: Int64, duration: Int64) {
        guard tracks.indices.contains(index) else { return }
        var converted: [UInt8]?
        if tracks[index].annexB {
            converted = packet.payload.withUnsafeBytes { Self.lengthPrefixed(annexB: $0) }
        } else if !tracks[index].isVideo {
            // AAC in ADTS (an MPEG-TS camera): the raw frame follows the 7-byte header (9 with a CRC).
            converted = packet.payload.withUnsafeBytes { data -> [UInt8]? in
                guard data.count >= 7, data[0] == 0xFF, data[1] & 0xF6 == 0xF0 else { return nil }
                let header = data[1] & 0x01 == 1 ? 7 : 9
                return data.count > header ? Array(data[header...]) : nil
            }
        }
        tracks[index].samples.append(Sample(packet: packet, converted: converted, dts: dts, compositionOffset: max(0, pts - dts),
                                            duration: max(0, duration), isKeyframe: packet.isKeyframe))
    }

    /// moof + mdat of the samples gathered, and a fresh start.
    mutating func fragment(sequence: Int) -> [UInt8] {
        let filled = tracks.indices.filter { !tracks[$0].samples.isEmpty }
        let trafSizes = filled.map { 8 + 16 + 20 + 20 + 16 * tracks[$0].samples.count }
        let moofSize = 8 + 16 + trafSizes.reduce(0, +)
        let dataSize = filled.reduce(0) { total, index in total + tracks[index].samples.reduce(0) { $0 + $1.size } }
        var out: [UInt8] = []
        out.reserveCapacity(moofSize + 8 + dataSize)
        out.box(moofSize, "moof")
        out.box(16, "mfhd")
        out.u32(0)
        out.u32(UInt32(truncatingIfNeeded: sequence))
        var dataOffset = moofSize + 8
        for (position, index) in filled.enumerated() {
            let track = tracks[index]
            out.box(trafSizes[position], "traf")
            out.box(16, "tfhd")
            out.u32(0x02_0000)  // default-base-is-moof
            out.u32(track.trackID)
            out.box(20, "tfdt")
            out.u32(0x0100_0000)  // version 1: a 64-bit decode time
            out.u64(UInt64(max(0, track.samples[0].dts)))
            out.box(20 + 16 * track.samples.count, "trun")
            // data-offset, and per sample: duration, size, flags, composition time offset.
            out.u32(0x0000_0F01)
            out.u32(UInt32(track.samples.count))
            out.u32(UInt32(dataOffset))
            for (sampleIndex, sample) in track.samples.enumerated() {
                // A sample lasts until the next one starts; the last one, its own duration.
                let next = sampleIndex + 1 < track.samples.count ? track.samples[sampleIndex + 1].dts - sample.dts : sample.duration
                out.u32(UInt32(clamping: max(0, next)))
                out.u32(UInt32(sample.size))
                // Video: a keyframe depends on nothing (2), other frames on others (1) and are not sync samples.
                out.u32(!track.isVideo || sample.isKeyframe ? 0x0200_0000 : 0x0101_0000)
                out.u32(UInt32(clamping: sample.compositionOffset))
            }
            dataOffset += track.samples.reduce(0) { $0 + $1.size }
        }
        out.box(8 + dataSize, "mdat")
        for index in filled {
            for sample in tracks[index].samples {
                if let converted = sample.converted {
                    out.append(contentsOf: converted)
                } else {
                    sample.packet.payload.withUnsafeBytes { out.append(contentsOf: $0) }
                }
            }
            tracks[index].samples.removeAll(keepingCapacity: true)
        }
        return out
    }

    /// Annex B (start codes) to 4-byte NAL lengths, as MP4 carries H.264/H.265. Zero bytes
    /// that trail a NAL unit before the next start code are not part of it. The start codes are
    /// found with `memchr` for their 0x01 (vectorized; a byte-by-byte scan of every frame was 14 %
    /// of the gateway's CPU with 20 RTSP cameras).
    static func lengthPrefixed(annexB data: UnsafeRawBufferPointer) -> [UInt8] {
        let count = data.count
        var starts: [(nal: Int, code: Int)] = []
        if let base = data.baseAddress, count >= 3 {
            var index = 2
            while index < count, let found = memchr(base + index, 1, count - index) {
                let position = base.distance(to: UnsafeRawPointer(found))
                if data[position - 1] == 0, data[position - 2] == 0 { starts.append((position + 1, position - 2)) }
                index = position + 1
            }
        }
        guard !starts.isEmpty else {
            // Already length-prefixed, or one bare NAL unit: carried as one.
            var out: [UInt8] = []
            out.reserveCapacity(count + 4)
            out.u32(UInt32(count))
            out.append(contentsOf: data)
            return out
        }
        var out: [UInt8] = []
        out.reserveCapacity(count + 4 * starts.count)
        for (position, start) in starts.enumerated() {
            var end = position + 1 < starts.count ? starts[position + 1].code : count
            while end > start.nal, data[end - 1] == 0 { end -= 1 }
            guard end > start.nal else { continue }
            out.u32(UInt32(end - start.nal))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start.nal..<end]))
        }
        return out
    }
}

extension [UInt8] {
    fileprivate mutating func u32(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8(value >> 16 & 0xFF))
        append(UInt8(value >> 8 & 0xFF))
        append(UInt8(value & 0xFF))
    }

    fileprivate mutating func u64(_ value: UInt64) {
        u32(UInt32(value >> 32))
        u32(UInt32(value & 0xFFFF_FFFF))
    }

    fileprivate mutating func box(_ size: Int, _ type: StaticString) {
        u32(UInt32(size))
        type.withUTF8Buffer { append(contentsOf: $0) }
    }
}
