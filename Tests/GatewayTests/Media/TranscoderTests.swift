import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Testing

/// The one H.264 encode per camera: MJPEG in, H.264 out that MP4 carries and ffprobe decodes.
@Suite struct TranscoderTests {
    /// 4 s of 640x480 MJPEG at 25 fps with G.711 µ-law audio (which MP4 cannot carry).
    static func mjpegClip() async throws -> String {
        try await TestMedia.file("mjpeg-ulaw.mkv", [
            "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
            "-t", "4", "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-c:a", "pcm_mulaw",
        ])
    }

    func transcode(_ path: String, options: TranscodeOptions) throws -> (output: RecordingOutput, inputFrames: Int) {
        let (streams, packets) = try readAllPackets(path)
        return (try transcode(streams, packets, options: options), packets.filter { $0.kind == .video }.count)
    }

    func transcode(_ streams: StreamSet, _ packets: [MediaPacket], options: TranscodeOptions) throws -> RecordingOutput {
        let output = RecordingOutput()
        let transcoder = TranscodingOutput(downstream: output, options: options, component: "test", logger: Logger(label: "test"))
        try transcoder.begin(streams)
        for packet in packets { try transcoder.publish(packet) }
        return output
    }

    @Test func mjpegBecomesH264WithAKeyframeEveryGOPAndG711BecomesAAC() async throws {
        var options = TranscodeOptions()
        options.width = 320
        let (output, inputFrames) = try transcode(try await Self.mjpegClip(), options: options)
        let session = try #require(output.sessions.first)
        #expect(output.sessions.count == 1)
        #expect(session.streams.map(\.codecName) == ["h264", "aac"])
        #expect(session.audio?.parameters.sampleRate == 8000 && session.audio?.index == 1)
        let video = try #require(session.video)
        #expect(video.parameters.width == 320 && video.parameters.height == 240)
        #expect(video.parameters.isCopyableToMP4)
        let packets = output.packets.map(\.packet).filter { $0.kind == .video }
        // zerolatency: a frame in, a packet out; none held back at the end.
        #expect(packets.count == inputFrames)
        // 4 s at 8 kHz in frames of 1024 samples (the encoder holds its priming frame).
        let audio = output.packets.map(\.packet).filter { $0.kind == .audio }
        #expect(audio.count >= 29 && audio.count <= 32, "\(audio.count)")
        let audioTimes = audio.compactMap(\.pts)
        #expect(zip(audioTimes, audioTimes.dropFirst()).allSatisfy { $1 - $0 == 1024 })
        let keyframes = packets.filter(\.isKeyframe).compactMap(\.pts).map { video.timeBase.seconds($0) }
        #expect(keyframes.count == 2, "\(keyframes)")
        #expect(abs(keyframes[1] - keyframes[0] - 2) < 0.05)

        // What MP4 makes of it decodes, every frame.
        let path = try writeMP4(output, session: session)
        #expect(try probe(path, stream: "v:0", "codec_name,profile,nb_read_frames") == "h264,High,\(inputFrames)")
        #expect(try probe(path, stream: "a:0", "codec_name,profile,sample_rate") == "aac,LC,8000")
    }

    /// What `output` received, through the fMP4 writer, as a file.
    func writeMP4(_ output: RecordingOutput, session: StreamSet) throws -> String {
        let writer = try FragmentedMP4Writer(streams: session)
        var bytes = writer.initSegment
        for packet in output.packets.map(\.packet) { if let fragment = try writer.append(packet) { bytes += fragment.bytes } }
        if let last = try writer.finish() { bytes += last.bytes }
        let path = TestMedia.temporaryPath("transcoded.mp4")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// ffprobe's `entries` of one stream, frames decoded and counted; an error output fails the test.
    func probe(_ path: String, stream: String, _ entries: String) throws -> String {
        let result = try runProgram(try TestMedia.ffprobePath(), ["-v", "error", "-count_frames", "-select_streams", stream,
                                                                   "-show_entries", "stream=\(entries)", "-of", "csv=p=0", path])
        #expect(result.error == "")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func copyableVideoPassesThroughUntouchedUnlessAlwaysIsAsked() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let copied = try transcode(streams, packets, options: TranscodeOptions())
        #expect(copied.sessions.first?.streams.map(\.codecName) == ["h264", "aac"])
        #expect(copied.packets.count == packets.count)
        #expect(zip(copied.packets, packets).allSatisfy { $0.packet.payload === $1.payload })

        var always = TranscodeOptions()
        always.mode = .always
        always.bitrateKbps = 300
        let encoded = try transcode(streams, packets, options: always)
        let session = try #require(encoded.sessions.first)
        #expect(session.streams.map(\.codecName) == ["h264", "aac"])
        #expect(session.video?.parameters.bitRate == 300_000)
        // The clip has B-frames: the decoder still holds two frames when the input stops.
        let frames = packets.filter { $0.kind == .video }.count
        #expect(encoded.packets.filter { $0.packet.kind == .video }.count == frames - 2)
        // Audio flows from the first encoded frame on.
        let audio = encoded.packets.filter { $0.packet.kind == .audio }.count
        #expect(audio >= packets.filter { $0.kind == .audio }.count - 2)
    }

    @Test func neverLeavesMJPEGAsItIs() async throws {
        var never = TranscodeOptions()
        never.mode = .never
        let (output, frames) = try transcode(try await Self.mjpegClip(), options: never)
        #expect(output.sessions.first?.streams.map(\.codecName) == ["mjpeg", "aac"])
        #expect(output.packets.filter { $0.packet.kind == .video }.count == frames)
    }

    @Test func fullRangeMJPEGAtItsOwnSizeIsEncodedWithoutConversionAndFlaggedFullRange() async throws {
        let (output, inputFrames) = try transcode(try await Self.mjpegClip(), options: TranscodeOptions())
        let session = try #require(output.sessions.first)
        #expect(session.video?.parameters.width == 640 && session.video?.parameters.height == 480)
        let path = try writeMP4(output, session: session)
        #expect(try probe(path, stream: "v:0", "codec_name,profile,color_range,nb_read_frames") == "h264,High,pc,\(inputFrames)")
    }

    @Test func outputSizeKeepsTheAspectRatioAndEvenSides() {
        var options = TranscodeOptions()
        #expect(TranscodingOutput.outputSize(source: (641, 481), options: options) == (642, 482))
        options.height = 720
        #expect(TranscodingOutput.outputSize(source: (1920, 1080), options: options) == (1280, 720))
        options.height = nil
        options.width = 640
        #expect(TranscodingOutput.outputSize(source: (1280, 1024), options: options) == (640, 512))
    }
}
