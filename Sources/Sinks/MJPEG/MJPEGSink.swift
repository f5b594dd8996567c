import GatewayCore

/// The `mjpeg` sink: an MJPEG camera's own JPEG frames, passed through untouched to any number
/// of `multipart/x-mixed-replace` viewers (`GET /api/cameras/{id}/mjpeg`) — no decode, no
/// encode. It taps the source before the H.264 transcode; each viewer has a bounded queue and a
/// slow one skips frames.
public final class MJPEGSink: SinkAdapter, SourceTap, MJPEGProvider {
    public static let type = "mjpeg"

    private let configuration: Configuration
    /// The camera's JPEGs, fanned out like any stream (every JPEG is a keyframe).
    private let frames: StreamHub

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        self.configuration = configuration
        // Its viewers hold the camera's demand (an on-demand camera connects for them).
        frames = StreamHub(cameraID: context.id + ":mjpeg", metrics: context.metrics, demand: hub.demand)
    }

    public func tapBegin(_ streams: StreamSet) {
        guard let video = streams.video, video.codecName == "mjpeg" else {
            frames.begin(StreamSet(streams: []))
            return
        }
        frames.begin(StreamSet(streams: [video.reindexed(0)]))
    }

    public func tap(_ packet: MediaPacket) {
        guard packet.kind == .video, frames.currentStreams?.video != nil else { return }
        var frame = packet
        frame.streamIndex = 0
        frame.isKeyframe = true
        frames.publish(frame)
    }

    public var isMJPEG: Bool? { frames.currentStreams.map { $0.video != nil } }

    public func subscribe(viewer: String) -> PacketReader? {
        if isMJPEG == false { return nil }
        return frames.subscribe(name: viewer, capacity: configuration.viewerQueueFrames)
    }

    public func run() async throws {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
