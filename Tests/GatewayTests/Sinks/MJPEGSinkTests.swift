import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import Synchronization
import Testing

/// The `mjpeg` sink passes an MJPEG camera's own JPEGs through to its viewers, untouched, and
/// offers nothing for a camera that is not MJPEG.
@Suite struct MJPEGSinkTests {
    func sink(hub: StreamHub) throws -> MJPEGSink {
        let configuration = try #require(ConfigDecoder.decode(MJPEGSink.Configuration.self, from: .object(JSONObject([("viewer_queue_frames", .int(100))]))).value)
        return try MJPEGSink(configuration: configuration, context: testContext(hub.cameraID), hub: hub)
    }

    @Test func jpegFramesReachTheViewerUntouched() async throws {
        let (streams, packets) = try readAllPackets(try await TranscoderTests.mjpegClip())
        let mjpeg = try sink(hub: StreamHub(cameraID: "mjpeg"))
        mjpeg.tapBegin(streams)
        #expect(mjpeg.isMJPEG == true)
        let viewer = try #require(mjpeg.subscribe(viewer: "img"))
        defer { viewer.close() }
        let video = packets.filter { $0.kind == .video }.prefix(10)
        for packet in packets.prefix(40) { mjpeg.tap(packet) }
        var frames: [[UInt8]] = []
        for await event in viewer {
            if case .packet(let packet) = event { frames.append(packet.payload.bytes) }
            if frames.count == 10 { break }
        }
        #expect(frames == video.map(\.payload.bytes), "the very JPEGs the camera sent")
        #expect(frames.allSatisfy { $0.starts(with: [0xFF, 0xD8]) })
    }

    @Test func aCameraThatIsNotMJPEGHasNoMJPEGViewers() async throws {
        let (streams, _) = try readAllPackets(try await TestMedia.clip())
        let mjpeg = try sink(hub: StreamHub(cameraID: "h264"))
        mjpeg.tapBegin(streams)
        #expect(mjpeg.isMJPEG == false)
        #expect(mjpeg.subscribe(viewer: "img") == nil)
    }
}
