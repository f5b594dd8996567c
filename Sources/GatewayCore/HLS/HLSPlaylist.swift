import Foundation

/// The live window of one camera's HLS stream as a value: fragments go in, segments and parts
/// come out with their names, old ones are evicted, and `render` writes the media playlist
/// (RFC 8216, with the Low-Latency HLS tags when parts are on). No I/O: tests drive it directly.
public struct HLSPlaylist: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Target segment length; segments are cut at the first keyframe past it.
        public var segmentDuration: Double
        /// LL-HLS part length; 0 for plain HLS.
        public var partDuration: Double
        /// Complete segments kept in the playlist.
        public var window: Int

        public init(segmentDuration: Double = 2, partDuration: Double = 0.2, window: Int = 6) {
            self.segmentDuration = segmentDuration
            self.partDuration = partDuration
            self.window = window
        }

        public var lowLatency: Bool { partDuration > 0 }
    }

    public struct Part: Sendable, Equatable {
        public let index: Int
        public let duration: Double
        public let independent: Bool
        public let name: String
    }

    public struct Segment: Sendable, Equatable {
        public let sequence: Int
        public var parts: [Part] = []
        public var duration: Double = 0
        /// Wall clock of its first frame (Unix seconds).
        public let programDateTime: Double
        /// First segment after a source restart.
        public let discontinuity: Bool
        public let initName: String
        public var name: String { "seg-\(sequence).m4s" }
    }

    /// What an append changed, for the store of bytes.
    public struct Change: Sendable, Equatable {
        /// The part just added (its bytes are the fragment's).
        public var part: Part?
        /// Segments that just completed, oldest first (each one's bytes are its parts' bytes, in
        /// order). Two when a fragment both follows a long-enough segment it did not end and, alone
        /// and before a keyframe, fills a segment of its own.
        public var completed: [Segment] = []
        /// Names whose bytes may be dropped.
        public var evicted: [String] = []
    }

    public let configuration: Configuration
    public private(set) var segments: [Segment] = []
    public private(set) var current: Segment?
    public private(set) var mediaSequence = 0
    public private(set) var discontinuitySequence = 0
    private var nextSequence = 0
    /// The init segment of the current session.
    public private(set) var initName: String?
    private var pendingDiscontinuity = false
    private var longestSegment: Double = 0
    /// PART-TARGET: the configured part length rounded up to whole frames.
    public private(set) var partTarget: Double

    /// `firstSequence` and `discontinuitySequence`: where the numbering starts (0 by default).
    public init(configuration: Configuration, frameDuration: Double = 0.04, firstSequence: Int = 0, discontinuitySequence: Int = 0) {
        self.configuration = configuration
        nextSequence = firstSequence
        mediaSequence = firstSequence
        self.discontinuitySequence = discontinuitySequence
        let frames = max(1, (configuration.partDuration / frameDuration - 0.001).rounded(.up))
        partTarget = configuration.lowLatency ? frames * frameDuration : 0
    }

    /// A new source session (first start or restart) with its init segment.
    public mutating func begin(initName: String) -> Change {
        var change = Change()
        if let completed = closeCurrent() { change.completed.append(completed) }
        pendingDiscontinuity = self.initName != nil
        self.initName = initName
        change.evicted = evict()
        return change
    }

    /// A fragment (an LL-HLS part, or a whole GOP without LL-HLS) of `duration` seconds.
    /// `beforeKeyframe`: the next fragment will start with a keyframe, so a segment that is long
    /// enough ends with this one now (otherwise it ends when an independent fragment arrives:
    /// without LL-HLS that is a whole GOP later, and plain players wait for it).
    public mutating func append(duration: Double, independent: Bool, beforeKeyframe: Bool = false, wallClock: Double) -> Change {
        var change = Change()
        guard let initName else { return change }
        if let segment = current, independent, segment.duration >= configuration.segmentDuration - 0.001 {
            if let completed = closeCurrent() { change.completed.append(completed) }
        }
        if current == nil {
            guard independent else { return change }  // a segment starts on a keyframe
            current = Segment(sequence: nextSequence, programDateTime: wallClock - duration, discontinuity: pendingDiscontinuity, initName: initName)
            nextSequence += 1
            if pendingDiscontinuity { pendingDiscontinuity = false }
        }
        let index = current!.parts.count
        let part = Part(index: index, duration: duration, independent: independent, name: "part-\(current!.sequence)-\(index).m4s")
        current!.parts.append(part)
        current!.duration += duration
        change.part = part
        if beforeKeyframe, current!.duration >= configuration.segmentDuration - 0.001, let completed = closeCurrent() {
            change.completed.append(completed)
        }
        change.evicted += evict()
        return change
    }

    private mutating func closeCurrent() -> Segment? {
        guard let segment = current, !segment.parts.isEmpty else { return nil }
        current = nil
        segments.append(segment)
        longestSegment = max(longestSegment, segment.duration)
        return segment
    }

    private mutating func evict() -> [String] {
        var evicted: [String] = []
        while segments.count > configuration.window {
            let old = segments.removeFirst()
            mediaSequence = old.sequence + 1
            // Its EXT-X-DISCONTINUITY leaves the playlist: the sequence counts it.
            if old.discontinuity { discontinuitySequence += 1 }
            evicted.append(old.name)
            evicted += old.parts.map(\.name)
        }
        // Parts are listed for the last segments only; older ones go.
        if segments.count > Self.segmentsWithParts {
            let stale = segments[segments.count - Self.segmentsWithParts - 1]
            evicted += stale.parts.map(\.name)
        }
        return evicted
    }

    /// Complete segments whose parts stay listed (besides the one in progress).
    static let segmentsWithParts = 2

    public var targetDuration: Int { Int(max(configuration.segmentDuration, longestSegment, current?.duration ?? 0).rounded(.up)) }

    /// The next part a blocking reload or a preload hint refers to.
    public var nextPart: (sequence: Int, part: Int) {
        if let current { return (current.sequence, current.parts.count) }
        return (nextSequence, 0)
    }

    /// True once segment `sequence` (part `part`, when given) exists.
    public func has(sequence: Int, part: Int?) -> Bool {
        if let part {
            if let current, current.sequence == sequence { return current.parts.count > part }
            return segments.contains { $0.sequence == sequence } || sequence < (segments.first?.sequence ?? 0)
        }
        return segments.contains { $0.sequence >= sequence }
    }

    public var isEmpty: Bool { segments.isEmpty && current == nil }

    /// The media playlist; `query` (e.g. `?token=…`) is appended to every URI.
    public func render(query: String = "") -> String {
        let lowLatency = configuration.lowLatency
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(lowLatency ? 9 : 7)", "#EXT-X-TARGETDURATION:\(targetDuration)"]
        if lowLatency {
            lines.append("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(Self.format(partTarget * 3))")
            lines.append("#EXT-X-PART-INF:PART-TARGET=\(Self.format(partTarget))")
        }
        lines.append("#EXT-X-MEDIA-SEQUENCE:\(mediaSequence)")
        if discontinuitySequence > 0 { lines.append("#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuitySequence)") }
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        var currentMap: String?
        let listed = segments + (current.map { [$0] } ?? [])
        let partsFrom = segments.count - Self.segmentsWithParts
        for (offset, segment) in listed.enumerated() {
            if segment.discontinuity { lines.append("#EXT-X-DISCONTINUITY") }
            if currentMap != segment.initName {
                lines.append("#EXT-X-MAP:URI=\"\(segment.initName)\(query)\"")
                currentMap = segment.initName
            }
            lines.append("#EXT-X-PROGRAM-DATE-TIME:\(Self.dateTime(segment.programDateTime))")
            if lowLatency, offset >= partsFrom {
                for part in segment.parts {
                    lines.append("#EXT-X-PART:DURATION=\(Self.format(part.duration)),URI=\"\(part.name)\(query)\"" + (part.independent ? ",INDEPENDENT=YES" : ""))
                }
            }
            if segment.sequence != current?.sequence {
                lines.append("#EXTINF:\(Self.format(segment.duration)),")
                lines.append(segment.name + query)
            }
        }
        if lowLatency, initName != nil {
            let next = nextPart
            lines.append("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-\(next.sequence)-\(next.part).m4s\(query)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The playlist rendered once, to be served with any query (each player's stream token):
    /// rendering costs far more than putting a query into it, and players reload it several
    /// times a second. Keep it until the playlist changes.
    public func rendered() -> RenderedPlaylist {
        RenderedPlaylist(pieces: render(query: String(RenderedPlaylist.marker)).split(separator: RenderedPlaylist.marker,
                                                                               omittingEmptySubsequences: false).map(String.init))
    }

    static func format(_ seconds: Double) -> String { String(format: "%.3f", seconds) }

    static func dateTime(_ time: Double) -> String { WallClock.iso8601(time) }
}

/// A rendered playlist with a place for the query on every URI.
public struct RenderedPlaylist: Sendable {
    /// Never in a playlist otherwise (names are ours, `query` comes after them).
    static let marker: Character = "\u{0}"
    let pieces: [String]

    public func with(query: String) -> String { pieces.joined(separator: query) }
}
