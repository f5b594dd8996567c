import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import Testing

@Suite struct HLSPlaylistTests {
    /// 25 fps, a keyframe every second, parts of 0.2 s: five parts a GOP. `marked`: each part
    /// before a keyframe says so, as the fragmenter's do.
    func feed(_ playlist: inout HLSPlaylist, seconds: Int, startingAt time: Double = 0, marked: Bool = false) -> [HLSPlaylist.Change] {
        var changes: [HLSPlaylist.Change] = []
        for index in 0..<(seconds * 5) {
            changes.append(playlist.append(duration: 0.2, independent: index % 5 == 0, beforeKeyframe: marked && index % 5 == 4,
                                           wallClock: time + Double(index) * 0.2))
        }
        return changes
    }

    /// A fragment that says the next one starts with a keyframe ends a segment that is long
    /// enough at once: without LL-HLS (a fragment per GOP) the segment is listed a whole GOP
    /// sooner, and with LL-HLS the preload hint names the next segment's first part.
    @Test func aSegmentEndsWithTheFragmentBeforeAKeyframe() {
        var plain = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0, window: 3))
        _ = plain.begin(initName: "init-1.mp4")
        var completedAt: [Int: Int] = [:]
        for index in 0..<6 {
            let change = plain.append(duration: 1, independent: true, beforeKeyframe: true, wallClock: Double(index))
            for completed in change.completed { completedAt[completed.sequence] = index }
            // The segment's bytes are its parts: the one that completed it is among them.
            for completed in change.completed { #expect(completed.parts.last?.name == change.part?.name) }
        }
        #expect(completedAt == [0: 1, 1: 3, 2: 5])
        #expect(plain.current == nil && plain.nextPart == (3, 0))
        // Unmarked (a fragment cut for its size, not at a keyframe): the segment waits for the
        // next independent fragment, as before.
        var unmarked = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0, window: 3))
        _ = unmarked.begin(initName: "init-1.mp4")
        let changes = (0..<3).map { unmarked.append(duration: 1, independent: true, wallClock: Double($0)) }
        #expect(changes.map { $0.completed.map(\.sequence) } == [[], [], [0]])
        // An unmarked fragment ended a segment that was long enough; the next, marked, fills one
        // alone: both complete at once (the second not a GOP later).
        var both = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0, window: 3))
        _ = both.begin(initName: "init-1.mp4")
        _ = both.append(duration: 2, independent: true, wallClock: 0)
        let twice = both.append(duration: 2, independent: true, beforeKeyframe: true, wallClock: 2)
        #expect(twice.completed.map(\.sequence) == [0, 1] && both.current == nil && both.nextPart == (2, 0))

        var low = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0.2, window: 3))
        _ = low.begin(initName: "init-1.mp4")
        let completed = feed(&low, seconds: 6, marked: true).flatMap(\.completed)
        #expect(completed.map(\.sequence) == [0, 1, 2] && completed.allSatisfy { $0.parts.count == 10 })
        #expect(low.render(query: "").contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-3-0.m4s\""))
    }

    @Test func segmentsAreCutAtTheFirstKeyframePastTheTarget() {
        var playlist = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0.2, window: 3))
        _ = playlist.begin(initName: "init-1.mp4")
        let changes = feed(&playlist, seconds: 7)
        let completed = changes.flatMap(\.completed)
        #expect(completed.map(\.sequence) == [0, 1, 2])
        #expect(completed.allSatisfy { abs($0.duration - 2) < 0.001 && $0.parts.count == 10 })
        #expect(playlist.current?.parts.count == 5)
        #expect(playlist.targetDuration == 2)
        #expect(abs(playlist.partTarget - 0.2) < 0.001)
        #expect(playlist.nextPart == (3, 5))
    }

    @Test func theWindowSlidesAndEvictsSegmentsAndParts() {
        var playlist = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0.2, window: 3))
        _ = playlist.begin(initName: "init-1.mp4")
        let evicted = feed(&playlist, seconds: 11).flatMap(\.evicted)
        #expect(playlist.segments.map(\.sequence) == [2, 3, 4])
        #expect(playlist.mediaSequence == 2)
        #expect(evicted.contains("seg-0.m4s") && evicted.contains("seg-1.m4s") && !evicted.contains("seg-2.m4s"))
        // Parts stay for the last two complete segments only.
        #expect(evicted.contains("part-2-0.m4s") && !evicted.contains("part-3-0.m4s"))
        let text = playlist.render(query: "?token=t")
        #expect(!text.contains("part-2-0.m4s") && text.contains("part-3-0.m4s?token=t") && text.contains("part-5-4.m4s"))
        #expect(text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"))
        #expect(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-5-5.m4s?token=t\""))
        #expect(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600"))
    }

    @Test func aNewSessionIsADiscontinuityWithItsOwnMap() {
        var playlist = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0, window: 4))
        _ = playlist.begin(initName: "init-1.mp4")
        for index in 0..<5 { _ = playlist.append(duration: 1, independent: true, wallClock: Double(index)) }
        let change = playlist.begin(initName: "init-2.mp4")
        #expect(change.completed.map(\.sequence) == [2])
        for index in 0..<5 { _ = playlist.append(duration: 1, independent: true, wallClock: Double(10 + index)) }
        let text = playlist.render()
        let lines = text.split(separator: "\n").map(String.init)
        let discontinuity = try! #require(lines.firstIndex(of: "#EXT-X-DISCONTINUITY"))
        #expect(lines[discontinuity + 1] == "#EXT-X-MAP:URI=\"init-2.mp4\"")
        #expect(!text.contains("EXT-X-PART"))
        #expect(text.contains("#EXT-X-VERSION:7"))
        // Once the discontinuity leaves the window, the sequence counts it.
        for index in 0..<10 { _ = playlist.append(duration: 1, independent: true, wallClock: Double(20 + index)) }
        #expect(playlist.discontinuitySequence == 1)
        #expect(playlist.render().contains("#EXT-X-DISCONTINUITY-SEQUENCE:1"))
    }

    @Test func blockingReloadTargets() {
        var playlist = HLSPlaylist(configuration: .init(segmentDuration: 2, partDuration: 0.2, window: 3))
        _ = playlist.begin(initName: "init-1.mp4")
        _ = feed(&playlist, seconds: 3)
        #expect(playlist.has(sequence: 0, part: nil))
        #expect(!playlist.has(sequence: 1, part: nil))
        #expect(playlist.has(sequence: 1, part: 4))
        #expect(!playlist.has(sequence: 1, part: 5))
        #expect(playlist.has(sequence: 0, part: 9))
    }
}
