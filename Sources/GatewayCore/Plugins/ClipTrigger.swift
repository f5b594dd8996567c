/// A sink that cuts clips around events (the clipper). Routes, Socket.IO and the event bus find
/// it among the camera's sinks; they authorize before calling it.
public protocol ClipTrigger: CameraSink {
    /// Starts a clip of `pre` seconds before now to `post` after; returns its record (pending)
    /// at once, the clip becomes ready when the post-roll has arrived.
    func trigger(pre: Double?, post: Double?, label: String?, actor: String?) async throws -> VideoRecord
    /// Clips still being written, all of them or those `actor` asked for.
    func pendingClips(actor: String?) async -> Int
}
