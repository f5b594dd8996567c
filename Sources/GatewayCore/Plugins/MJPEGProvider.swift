/// A sink that serves a camera as multipart MJPEG (`GET /api/cameras/{id}/mjpeg`).
public protocol MJPEGProvider: Sendable {
    /// The camera's own JPEG frames, from the latest one on; nil when the camera does not send MJPEG.
    func subscribe(viewer: String) -> PacketReader?
    /// Whether the camera's current session is MJPEG (nil before its first session).
    var isMJPEG: Bool? { get }
}
