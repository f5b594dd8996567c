import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Testing

/// A camera is input from outside too (a user may point one at a server they run): timestamps,
/// durations and frame rates anywhere in `Int64`/`Double` must not trap anywhere between the
/// demuxer and the files (issue 11, item 2). Before the bounds, `Int64.max` as a pts crashed the
/// process in `TimestampRepair`.
@Suite struct CameraTimestampTests {
    static let timeBases = [Rational(1, 1), Rational(1, 90_000), Rational(1, 1_000_000_000), Rational(1, 48_000),
                            Rational(1001, 30_000), Rational(1, Int32.max)]
    static let extremes: [Int64] = [.max, .min, .max - 1, .min + 1, 1 << 62, -(1 << 62), 1 << 47, 0, -1]

    func stream(_ timeBase: Rational, frameRate: Double?) -> MediaStream {
        let base = MediaStream.testVideo(frameRate: 25)
        return MediaStream(index: 0, timeBase: timeBase, parameters: base.parameters, frameRate: frameRate)
    }

    func packet(pts: Int64?, dts: Int64?, duration: Int64, timeBase: Rational, keyframe: Bool) -> MediaPacket {
        MediaPacket(streamIndex: 0, kind: .video, pts: pts, dts: dts, duration: duration, isKeyframe: keyframe,
                    timeBase: timeBase, payload: PacketBuffer(bytes: [0, 0, 0, 1, 0x65]))
    }

    @Test func hostileTimestampsAreRepairedWithoutTrapping() throws {
        var generator = SplitMix(seed: 11)
        for timeBase in Self.timeBases {
            for frameRate in [nil, 1e-300, 1e300, .infinity, .nan, 25.0] as [Double?] {
                let streams = StreamSet(streams: [stream(timeBase, frameRate: frameRate)])
                var repair = TimestampRepair()
                repair.begin(streams, now: 0)
                var last: Int64?
                for step in 0..<400 {
                    func value() -> Int64? {
                        switch Int.random(in: 0..<4, using: &generator) {
                        case 0: return nil
                        case 1: return Self.extremes.randomElement(using: &generator)!
                        case 2: return Int64.random(in: .min ... .max, using: &generator)
                        default: return Int64(step) * 3_600
                        }
                    }
                    let input = packet(pts: value(), dts: value(), duration: value() ?? 0, timeBase: timeBase, keyframe: step % 25 == 0)
                    let out = repair.repair(input, now: Int64(step) * 40_000_000)
                    let dts = try #require(out.dts)
                    if let last { #expect(dts > last, "dts went back at step \(step) in \(timeBase)") }
                    #expect(try #require(out.pts) >= dts)
                    #expect(MediaPacket.isWithinLimit(dts, timeBase: timeBase) || timeBase.rescale(dts, to: .microseconds).magnitude < 1 << 50,
                            "dts \(dts) in \(timeBase) is far outside the timeline")
                    last = dts
                }
            }
        }
    }

    @Test func hostilePacketsReachAFileWithoutTrapping() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("timestamps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let timeBase = Rational(1, 90_000)
        let streams = StreamSet(streams: [stream(timeBase, frameRate: 25)])
        let writer = try ProgressiveMP4Writer(path: directory.appendingPathComponent("clip.mp4").path, streams: streams, component: "test")
        for (step, value) in Self.extremes.enumerated() {
            try? writer.append(packet(pts: value, dts: value, duration: value, timeBase: timeBase, keyframe: step == 0))
            try? writer.append(packet(pts: Int64(step) * 3_600, dts: Int64(step) * 3_600, duration: .max, timeBase: timeBase, keyframe: false))
        }
        try? writer.finish()
    }

    @Test func conversionsSaturate() {
        let timeBase = Rational(1, 1_000_000_000)
        #expect(timeBase.ticks(seconds: .infinity) == .max)
        #expect(timeBase.ticks(seconds: -.infinity) == .min)
        #expect(timeBase.ticks(seconds: .nan) == 0)
        #expect(timeBase.ticks(seconds: 1e300) == .max)
        #expect(Rational(0, 1).ticks(seconds: 1) == .max)
        let moved = packet(pts: .max - 5, dts: .min + 5, duration: 0, timeBase: timeBase, keyframe: true).offset(by: .max)
        #expect(moved.pts == .max)
        #expect(packet(pts: .min + 5, dts: 0, duration: 0, timeBase: timeBase, keyframe: true).offset(by: .min).pts == .min)
        for frameRate in [1e-300, 1e300, Double.infinity, -1] {
            let duration = stream(timeBase, frameRate: frameRate).nominalPacketDuration
            #expect(duration >= 1 && duration <= timeBase.ticks(seconds: 60), "\(frameRate) fps → \(duration)")
        }
    }

    @Test func boundedDropsWhatIsOutOfRange() {
        let timeBase = Rational(1, 90_000)
        let hostile = packet(pts: .max, dts: -(1 << 62), duration: -4, timeBase: timeBase, keyframe: true).bounded()
        #expect(hostile.pts == nil && hostile.dts == nil && hostile.duration == 0)
        let fine = packet(pts: 90_000 * 3600 * 24, dts: 3_600, duration: 3_600, timeBase: timeBase, keyframe: true).bounded()
        #expect(fine.pts == 90_000 * 3600 * 24 && fine.dts == 3_600 && fine.duration == 3_600)
    }
}
