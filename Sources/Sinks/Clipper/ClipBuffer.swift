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

    init(keepSeconds: Double, maxBytes: Int) {
        self.keepSeconds = keepSeconds
        self.maxBytes = maxBytes
    }

    mutating func reset() {
        packets.removeAll()
        bytes = 0
        newest = nil
    }

    mutating func append(_ packet: MediaPacket) {
        // The buffer starts on a keyframe.
        if packets.isEmpty, !packet.isVideoKeyframe { return }
        packets.append(packet)
        bytes += packet.size
        if let time = packet.decodeSeconds { newest = max(newest ?? time, time) }
        trim()
    }

    /// Drops whole GOPs from the front while the next GOP still starts early enough, or while over the cap.
    private mutating func trim() {
        guard let newest else { return }
        while let secondKeyframe = packets.dropFirst().firstIndex(where: \.isVideoKeyframe) {
            let start = packets[secondKeyframe].decodeSeconds ?? newest
            guard newest - start >= keepSeconds || bytes > maxBytes else { break }
            for _ in packets.startIndex..<secondKeyframe {
                bytes -= packets.removeFirst().size
            }
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
