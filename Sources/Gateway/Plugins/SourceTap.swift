/// A sink that wants the camera's packets as the source delivered them — before the transcoder
/// (the `mjpeg` passthrough wants the camera's JPEGs, not the H.264 made from them). The
/// supervisor calls it on the source's thread, after timestamp repair; it must not block.
public protocol SourceTap: Sendable {
    func tapBegin(_ streams: StreamSet)
    func tap(_ packet: MediaPacket)
}

/// A sink that serves a camera as multipart MJPEG (`GET /api/cameras/{id}/mjpeg`).
public protocol MJPEGProvider: Sendable {
    /// The camera's own JPEG frames, from the latest one on; nil when the camera does not send MJPEG.
    func subscribe(viewer: String) -> PacketReader?
    /// Whether the camera's current session is MJPEG (nil before its first session).
    var isMJPEG: Bool? { get }
}
