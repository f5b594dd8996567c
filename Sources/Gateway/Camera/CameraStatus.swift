/// Where a camera's source stands.
public enum CameraState: String, Sendable, Codable, CaseIterable {
    /// First connection attempt in progress.
    case starting
    /// Packets are flowing.
    case online
    /// The source failed; waiting for or attempting the next connection.
    case reconnecting
    /// An on-demand source with nobody watching: disconnected until someone does.
    case idle
    /// Stopped: end of a non-looping file, or the gateway is shutting down.
    case offline
}

public struct CameraStatus: Sendable, Equatable {
    public var state: CameraState = .starting
    public var lastError: String?
    public var reconnects = 0
    /// Unix time of the last state change.
    public var since: Double = WallClock.now()
}
