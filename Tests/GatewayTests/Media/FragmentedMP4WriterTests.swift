import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct FragmentedMP4WriterTests {
    func remux(_ path: String, fragmentation: FragmentedMP4Writer.Fragmentation) throws -> (output: String, fragments: [MP4Fragment], source: [MediaPacket], streams: StreamSet) {
        let (streams, packets) = try readAllPackets(path)
        let writer = try FragmentedMP4Writer(streams: streams, fragmentation: fragmentation)
        var fragments: [MP4Fragment] = []
        for packet in packets { if let fragment = try writer.append(packet) { fragments.append(fragment) } }
        if let last = try writer.finish() { fragments.append(last) }
        var bytes = writer.initSegment
        for fragment in fragments { bytes += fragment.bytes }
        let output = TestMedia.temporaryPath("remux.mp4")
        try Data(bytes).write(to: URL(fileURLWithPath: output))
        return (output, fragments, packets, streams)
    }

    @Test func oneFragmentPerGOPReadsBackWithEveryFrameAndTimestamp() async throws {
        let (output, fragments, source, streams) = try remux(try await TestMedia.clip(), fragmentation: .perKeyframe)
        #expect(fragments.count == 2)
        #expect(fragments.allSatisfy { $0.isIndependent })
        // The first was cut at the second GOP's keyframe; the last at the end of the input.
        #expect(fragments.map(\.endsBeforeKeyframe) == [true, false])
        #expect(fragments.map(\.sequence) == [1, 2])
        #expect(abs(fragments[0].startTime) < 0.001)
        #expect(abs(fragments[1].startTime - 1.0) < 0.03)

        // Parsed back by libavformat: same frames, same presentation times relative to the start.
        let (outStreams, outPackets) = try readAllPackets(output)
        #expect(outStreams.video?.codecName == "h264")
        #expect(outStreams.audio?.codecName == "aac")
        let sourceVideo = source.filter { $0.kind == .video }
        let outVideo = outPackets.filter { $0.kind == .video }
        #expect(outVideo.count == 50)
        #expect(outPackets.filter { $0.kind == .audio }.count == source.filter { $0.kind == .audio }.count)
        let sourceOrigin = streams.video!.timeBase.seconds(sourceVideo[0].dts!)
        let sourceTimes = sourceVideo.map { streams.video!.timeBase.seconds($0.pts!) - sourceOrigin }
        let outTimes = outVideo.map { outStreams.video!.timeBase.seconds($0.pts!) }
        #expect(zip(sourceTimes, outTimes).allSatisfy { abs($0 - $1) < 0.001 })
        #expect(outVideo.map(\.isKeyframe) == sourceVideo.map(\.isKeyframe))
    }

    @Test func ffprobeReadsTheFragmentsWithoutErrors() async throws {
        let (output, _, _, _) = try remux(try await TestMedia.clip(), fragmentation: .perKeyframe)
        let probe = try runProgram(try TestMedia.ffprobePath(), [
            "-v", "warning", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0", output,
        ])
        #expect(probe.status == 0)
        #expect(probe.error.isEmpty, "ffprobe warned: \(probe.error)")
        #expect(probe.output.trimmingCharacters(in: .whitespacesAndNewlines) == "h264,50")
        let decode = try runProgram(try TestMedia.ffmpegPath(), ["-v", "warning", "-i", output, "-f", "null", "-"])
        #expect(decode.status == 0)
        #expect(decode.error.isEmpty, "ffmpeg warned: \(decode.error)")
    }

    @Test func partsSplitAGOPAndOnlyKeyframeLedPartsAreIndependent() async throws {
        let (output, fragments, _, _) = try remux(try await TestMedia.clip(), fragmentation: .parts(.milliseconds(200)))
        #expect(fragments.count == 10)
        #expect(fragments.filter(\.isIndependent).count == 2)
        #expect(fragments.map(\.endsBeforeKeyframe) == [false, false, false, false, true, false, false, false, false, false])
        for fragment in fragments.dropLast() { #expect(abs(fragment.duration - 0.2) < 0.001) }
        for (previous, next) in zip(fragments, fragments.dropFirst()) {
            #expect(abs(previous.startTime + previous.duration - next.startTime) < 0.001)
        }
        let (_, packets) = try readAllPackets(output)
        #expect(packets.filter { $0.kind == .video }.count == 50)
    }

    /// MPEG-TS (and RTSP) carry H.264 in Annex B with start codes: the fragments carry it with
    /// NAL lengths, as MP4 wants, and decode to the same frames at the same times.
    @Test func annexBVideoIsCarriedWithNALLengthsAndDecodes() async throws {
        let ts = try await TestMedia.file("annexb-h264.ts", [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2",
            "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-f", "mpegts",
        ])
        let (output, fragments, source, streams) = try remux(ts, fragmentation: .parts(.milliseconds(200)))
        #expect(fragments.filter(\.isIndependent).count == 2)
        let (outStreams, outPackets) = try readAllPackets(output)
        let sourceVideo = source.filter { $0.kind == .video }
        let outVideo = outPackets.filter { $0.kind == .video }
        #expect(outVideo.count == sourceVideo.count)
        let origin = streams.video!.timeBase.seconds(sourceVideo[0].dts!)
        let sourceTimes = sourceVideo.map { streams.video!.timeBase.seconds($0.pts!) - origin }
        let outTimes = outVideo.map { outStreams.video!.timeBase.seconds($0.pts!) }
        #expect(zip(sourceTimes, outTimes).allSatisfy { abs($0 - $1) < 0.001 })
        #expect(outVideo.map(\.isKeyframe) == sourceVideo.map(\.isKeyframe))
        // Every sample starts with a 4-byte NAL length, not a start code.
        #expect(outVideo.allSatisfy { packet in packet.payload.withUnsafeBytes { !($0[0] == 0 && $0[1] == 0 && ($0[2] == 1 || $0[3] == 1)) } })
        let decode = try runProgram(try TestMedia.ffmpegPath(), ["-v", "warning", "-i", output, "-f", "null", "-"])
        #expect(decode.status == 0)
        #expect(decode.error.isEmpty, "ffmpeg warned: \(decode.error)")
    }

    /// A camera that never sends another keyframe: fragments are still cut, none past the cap.
    @Test func aStreamWithoutKeyframesIsCutAtTheFragmentCap() async throws {
        let streams = try Demuxer(url: try await TestMedia.clip()).streams
        let video = streams.video!
        let writer = try FragmentedMP4Writer(streams: streams)
        var fragments: [MP4Fragment] = []
        for index in 0..<80 {
            let packet = MediaPacket(streamIndex: video.index, kind: .video, pts: Int64(index) * 512, dts: Int64(index) * 512, duration: 512,
                                     isKeyframe: index == 0, timeBase: video.timeBase, payload: PacketBuffer(bytes: [UInt8](repeating: 7, count: 1 << 20)))
            if let fragment = try writer.append(packet) { fragments.append(fragment) }
        }
        #expect(fragments.count >= 2)
        #expect(fragments.allSatisfy { $0.bytes.count <= FragmentedMP4Writer.maximumFragmentBytes + 4096 })
        #expect(fragments.first?.isIndependent == true && fragments.dropFirst().allSatisfy { !$0.isIndependent })
        // Cut for their size, not at a keyframe: no segment may end after them.
        #expect(fragments.allSatisfy { !$0.endsBeforeKeyframe })
    }

    @Test func aCodecMP4CannotCarryIsRefused() async throws {
        let mjpeg = try await TestMedia.file("mjpeg.avi", ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "mjpeg"])
        let streams = try Demuxer(url: mjpeg).streams
        #expect(throws: MediaError.self) { try FragmentedMP4Writer(streams: streams) }
    }
}
