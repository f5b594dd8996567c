/// Copies the packets of recorded segments (the recorder's files) that fall in a time range into
/// one fragmented MP4, handed out piece by piece (the init segment, then a fragment per GOP) as
/// it is made. Blocking (libav reads): run it on a thread of its own (`BoundedHandoff.pump`).
public enum RecordingStitcher {
    /// No packet of the recordings falls in the range.
    public struct NothingRecorded: Error {}

    public static func stitch(_ segments: [VideoRecord], from start: Double, duration: Double, emit: ([UInt8]) throws -> Void) throws {
        var writer: FragmentedMP4Writer?
        var generation: String?
        var initSent = false
        var written = 0
        func write(_ packet: MediaPacket) throws {
            written += 1
            guard let fragment = try writer?.append(packet) else { return }
            if !initSent, let writer { try emit(writer.initSegment); initSent = true }
            try emit(fragment.bytes)
        }
        let end = start + duration
        outer: for segment in segments {
            guard let segmentStart = segment.start, let demuxer = try? Demuxer(url: segment.path) else { continue }
            // Every segment's timeline starts at 0; its wall-clock start places it.
            let codecs = demuxer.streams.codecs
            if writer == nil {
                writer = try FragmentedMP4Writer(streams: demuxer.streams, component: "playback")
                generation = codecs
            } else if codecs != generation {
                break  // the camera changed codecs: the range ends here
            }
            var pending: [MediaPacket] = []
            var origin: Double?
            while let packet = try? demuxer.read() {
                guard let media = packet.decodeSeconds else { continue }
                if origin == nil { origin = media }
                let wall = segmentStart + media - (origin ?? 0)
                if wall > end { break outer }
                let shifted = packet.offset(by: packet.timeBase.ticks(seconds: segmentStart - (segments.first?.start ?? segmentStart)))
                if wall < start {
                    // Keep the GOP that leads into the range, so it starts on a keyframe.
                    if packet.isVideoKeyframe { pending = [] }
                    pending.append(shifted)
                    continue
                }
                for earlier in pending { try write(earlier) }
                pending = []
                try write(shifted)
            }
        }
        guard let writer, written > 0 else { throw NothingRecorded() }
        if !initSent { try emit(writer.initSegment) }
        if let last = try writer.finish() { try emit(last.bytes) }
    }
}
