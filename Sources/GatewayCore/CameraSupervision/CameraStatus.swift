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
    /// The last failure in full: for admins and the log.
    public var lastError: String?
    /// The same failure as anyone else sees it: what kind of failure, never an address, a
    /// path or a server's words (a camera a user points somewhere must not map the network).
    public var lastPublicError: String?
    public var reconnects = 0
    /// Unix time of the last state change.
    public var since: Double = WallClock.now()
}

/// What users who are not admins are told about a failing source.
public enum PublicSourceError {
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? MediaError else { return "the camera could not be reached" }
        switch error.code {
        case .unauthorized: return "the camera refused the credentials"
        case .timeout: return "the camera did not answer in time"
        case .notAllowed: return "the source policy does not allow this destination"
        case .streamInfo, .noPlayableStream, .unsupported, .transcode, .mux: return "the camera's stream cannot be played"
        case .deviceNotFound: return "the device is not present"
        case .open, .read, .cancelled: return "the camera could not be reached"
        }
    }
}
