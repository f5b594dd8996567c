import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct FragmentHubTests {
    func fragment(_ sequence: Int, independent: Bool) -> MP4Fragment {
        MP4Fragment(bytes: [UInt8(sequence)], startTime: Double(sequence), duration: 1, isIndependent: independent, sequence: sequence)
    }

    @Test func aNewViewerGetsTheInitSegmentAndTheCurrentGOPAtOnce() async throws {
        let hub = FragmentHub(cameraID: "f")
        hub.begin(MP4InitSegment(bytes: [0], codecs: "avc1.640028", generation: 1))
        for sequence in 1...5 { hub.publish(fragment(sequence, independent: sequence == 1 || sequence == 4)) }
        let viewer = hub.subscribe(name: "late")
        defer { viewer.close() }
        guard case .initSegment(let segment) = await viewer.next() else { Issue.record("no init"); return }
        #expect(segment.mimeType == #"video/mp4; codecs="avc1.640028""#)
        var sequences: [Int] = []
        for _ in 0..<2 { if case .fragment(let fragment) = await viewer.next() { sequences.append(fragment.sequence) } }
        #expect(sequences == [4, 5])
    }

    @Test func aSlowViewerSkipsToTheNextIndependentFragmentAndIsCounted() async throws {
        let hub = FragmentHub(cameraID: "f")
        hub.begin(MP4InitSegment(bytes: [0], codecs: "avc1.640028", generation: 1))
        let slow = hub.subscribe(name: "slow", capacity: 2)
        defer { slow.close() }
        for sequence in 1...7 { hub.publish(fragment(sequence, independent: sequence % 3 == 1)) }
        guard case .initSegment = await slow.next() else { Issue.record("no init"); return }
        // 1, 2 queued; 3 overflows: 1-3 dropped; 4 (independent) and 5 queued; 6 overflows: 4-6
        // dropped; 7 is independent: one notice for the six lost since the init, then 7.
        guard case .skipped(let count) = await slow.next() else { Issue.record("no skip"); return }
        #expect(count == 6)
        guard case .fragment(let resumed) = await slow.next() else { Issue.record("no fragment"); return }
        #expect(resumed.sequence == 7 && resumed.isIndependent)
        #expect(slow.statistics.dropped == 6)
    }
}
