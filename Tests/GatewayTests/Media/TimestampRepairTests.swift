import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

/// The timestamp rules between a camera and its sinks, without I/O: times in a 1/90000 time base,
/// arrival times in nanoseconds.
@Suite struct TimestampRepairTests {
    static let video = MediaStream.testVideo(frameRate: 25)
    static let streams = StreamSet(streams: [video])
    let frame: Int64 = 3600  // 1/25 s at 90 kHz

    func packet(_ dts: Int64?, pts: Int64? = nil, keyframe: Bool = false) -> MediaPacket {
        MediaPacket(streamIndex: 0, kind: .video, pts: pts ?? dts, dts: dts, duration: frame, isKeyframe: keyframe,
                    timeBase: Rational(1, 90_000), payload: PacketBuffer(bytes: [0]))
    }

    func millis(_ value: Int64) -> Int64 { value * 1_000_000 }

    @Test func goodTimestampsPassUnchanged() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        let out = (0..<10).map { repair.repair(packet(1_000 + Int64($0) * frame, pts: 1_000 + Int64($0) * frame + 2 * frame), now: millis(40 * Int64($0))) }
        #expect(out.map(\.dts) == (0..<10).map { 1_000 + Int64($0) * frame })
        #expect(out.map(\.pts) == (0..<10).map { 1_000 + Int64($0) * frame + 2 * frame })
        #expect(repair.repairs == 0 && repair.discontinuities == 0)
    }

    @Test func dtsOnlyGrowsAndPtsIsNeverBeforeIt() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        let input: [(Int64, Int64)] = [(0, 0), (3600, 3600), (3600, 3000), (7000, 7200), (6900, 10800)]
        let out = input.enumerated().map { repair.repair(packet($0.element.0, pts: $0.element.1), now: millis(40 * Int64($0.offset))) }
        let dts = out.compactMap(\.dts)
        #expect(dts == [0, 3600, 3601, 7000, 7001])
        #expect(zip(out.compactMap(\.pts), dts).allSatisfy { $0 >= $1 })
        #expect(repair.repairs == 2)
    }

    @Test func aReconnectContinuesTheTimelineAfterTheTimeAway() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        var last: MediaPacket?
        for index in 0..<50 { last = repair.repair(packet(500_000 + Int64(index) * frame), now: millis(40 * Int64(index))) }
        let end = last!.dts! + frame
        // The camera comes back 3 s later with its clock started over.
        repair.begin(Self.streams.withGeneration(2), now: millis(5_000))
        let first = repair.repair(packet(0, keyframe: true), now: millis(40 * 49 + 3_000))
        let away = 3_000 * 90  // 3 s in ticks
        #expect(abs(first.dts! - (end + Int64(away))) <= 90)
        let second = repair.repair(packet(frame), now: millis(40 * 50 + 3_000))
        #expect(second.dts! - first.dts! == frame)
    }

    @Test func aJumpInsideASessionIsFoldedNotPassedOn() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        for index in 0..<10 { _ = repair.repair(packet(Int64(index) * frame), now: millis(40 * Int64(index))) }
        // The camera's clock leaps an hour ahead, then runs on from there.
        let leap: Int64 = 3_600 * 90_000
        let after = repair.repair(packet(leap + 10 * frame), now: millis(400))
        let next = repair.repair(packet(leap + 11 * frame), now: millis(440))
        #expect(after.dts! < 11 * frame + 90 && after.dts! > 9 * frame)
        #expect(next.dts! - after.dts! == frame)
        // And back by a minute: folded again, still forwards.
        let back = repair.repair(packet(leap - 60 * 90_000), now: millis(480))
        #expect(back.dts! > next.dts!)
        #expect(repair.discontinuities == 2)
    }

    @Test func framesWithoutTimestampsAreTimedByArrivalOnTheFrameGrid() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        // A 10 fps camera whose frames come in pairs (a buffering server), with jitter.
        var arrivals: [Int64] = []
        for pair in 0..<40 { arrivals += [Int64(pair) * 200 + 5, Int64(pair) * 200 + 7] }
        let out = arrivals.map { repair.repair(packet(nil), now: millis($0)) }
        let dts = out.compactMap(\.dts)
        #expect(dts.count == arrivals.count)
        #expect(zip(dts, dts.dropFirst()).allSatisfy { $1 - $0 >= frame })  // a slot apart at least
        #expect(dts.allSatisfy { $0 % frame == 0 })  // on the 25 fps grid
        // The average pace is the camera's: 80 frames over 8 s.
        let span = Double(dts.last! - dts.first!) / 90_000
        #expect(span > 7.0 && span < 8.6, "\(span)")
        #expect(out.allSatisfy { $0.pts == $0.dts })
    }

    @Test func aCameraFasterThanItsNominalRateDoesNotDriftAhead() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        // 50 fps arriving on a stream that says 25.
        let out = (0..<500).map { repair.repair(packet(nil), now: millis(20 * Int64($0))) }
        let lastSeconds = Double(out.last!.dts!) / 90_000
        #expect(abs(lastSeconds - 9.98) < 0.6, "\(lastSeconds)")
    }

    @Test func aMissingTimestampInATimedStreamFollowsThePreviousFrame() {
        var repair = TimestampRepair()
        repair.begin(Self.streams, now: 0)
        _ = repair.repair(packet(90_000), now: 0)
        let gap = repair.repair(packet(nil), now: millis(40))
        #expect(gap.dts == 90_000 + frame)
    }
}

@Suite struct SourceDemandTests {
    @Test func holdsAndTouchesMakeDemandUntilTheyEnd() async throws {
        let demand = SourceDemand()
        #expect(!demand.isDemanded)
        let hold = demand.hold()
        #expect(demand.isDemanded && demand.holders == 1)
        hold.release()
        hold.release()
        #expect(!demand.isDemanded && demand.holders == 0)
        demand.touch(for: 0.2)
        #expect(demand.isDemanded)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!demand.isDemanded)
    }

    @Test func waitersWakeOnDemandAndIdleComesAfterTheTimeout() async throws {
        let demand = SourceDemand()
        let woke = Task { await demand.waitForDemand(); return ContinuousClock.now }
        try await Task.sleep(for: .milliseconds(100))
        let asked = ContinuousClock.now
        var hold: DemandHold? = demand.hold()
        let wokeAt = await woke.value
        // A wake, not a speed: the bound only tells it from never (the suites run in parallel on 2 cores).
        #expect(wokeAt >= asked && asked.duration(to: wokeAt) < .seconds(10))
        _ = hold
        hold = nil  // freed: released
        let released = ContinuousClock.now
        try await demand.waitForIdle(timeout: .milliseconds(300), poll: .milliseconds(20))
        let idleAfter = released.duration(to: .now)
        #expect(idleAfter >= .milliseconds(280) && idleAfter < .seconds(10), "\(idleAfter)")
    }
}

extension MediaStream {
    /// A video stream as a demuxer of `TestMedia.shortVideo()` describes it, at 1/90000.
    static func testVideo(frameRate: Double) -> MediaStream {
        let demuxer = try! Demuxer(url: try! TestMedia.shortVideoNow())
        let stream = demuxer.streams.video!
        return MediaStream(index: 0, timeBase: Rational(1, 90_000), parameters: stream.parameters, frameRate: frameRate)
    }
}
