import DequeModule
import GatewayCore

/// The clipper's memory: the camera's packets of the last `keepSeconds` (plus the GOP that
/// started before them), whole GOPs only, capped at `maxBytes` by dropping the oldest GOP.
struct ClipBuffer {
    let keepSeconds: Double
    let maxBytes: Int
    private(set) var packets = Deque<MediaPacket>()
    private(set) var bytes = 0
    /// Media time (seconds) of the newest packet.
    private(set) var newest: Double?
    /// Positions of the video keyframes in `packets`, counted from `removed` (packets dropped
    /// from the front so far), so trimming never scans the buffer.
    private var keyframes = Deque<Int>()
    private var removed = 0

    init(keepSeconds: Double, maxBytes: Int) {
        self.keepSeconds = keepSeconds
        self.maxBytes = maxBytes
    }

    mutating func reset() {
        packets.removeAll()
        keyframes.removeAll()
        removed = 0
        bytes = 0
        newest = nil
    }

    mutating func append(_ packet: MediaPacket) {
        // The buffer starts on a keyframe.
        if packets.isEmpty, !packet.isVideoKeyframe { return }
        if packet.isVideoKeyframe { keyframes.append(removed + packets.count) }
        packets.append(packet)
        bytes += packet.size
        if let time = packet.decodeSeconds { newest = max(newest ?? time, time) }
        trim()
    }

    /// Drops whole GOPs from the front while the next GOP still starts early enough, or while over the cap.
    private mutating func trim() {
        guard let newest else { return }
        while keyframes.count >= 2 {
            let second = keyframes[keyframes.startIndex + 1] - removed
            let start = packets[packets.startIndex + second].decodeSeconds ?? newest
            guard newest - start >= keepSeconds || bytes > maxBytes else { break }
            for _ in 0..<second { bytes -= packets.removeFirst().size }
            removed += second
            keyframes.removeFirst()
        }
    }

    /// The packets from the keyframe at or before `time` (or the oldest kept) to the newest.
    func packets(from time: Double) -> [MediaPacket] {
        var start = packets.startIndex
        for index in packets.indices where packets[index].isVideoKeyframe {
            if let seconds = packets[index].decodeSeconds, seconds <= time { start = index } else { break }
        }
        return Array(packets[start...])
    }
}
