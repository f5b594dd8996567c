/// The gateway's one domain error: what went wrong, as a code from a closed set, and a message a
/// user can read. It knows nothing of HTTP, Socket.IO or WebSocket; the server maps it to an HTTP
/// status (`APIError`), a Socket.IO acknowledgement (`SocketIOAnswer`) and a WebSocket close code
/// (`LiveWebSocketEndpoint`), each in one place.
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        // The request itself.
        case badRequest = "bad_request"
        case invalidRequest = "invalid_request"
        case malformedJSON = "malformed_json"
        case bodyTooLarge = "body_too_large"
        case outOfRange = "out_of_range"
        case notFound = "not_found"
        case crossSiteRequest = "cross_site_request"
        case websocketRequired = "websocket_required"
        // Who is asking.
        case unauthenticated
        case invalidToken = "invalid_token"
        case invalidCredentials = "invalid_credentials"
        case forbidden
        case registrationClosed = "registration_closed"
        case userExists = "user_exists"
        case passwordTooLong = "password_too_long"
        case rateLimited = "rate_limited"
        // Cameras and sharing.
        case cameraExists = "camera_exists"
        case invalidCamera = "invalid_camera"
        case sourceNotAllowed = "source_not_allowed"
        case limitReached = "limit_reached"
        case managedByConfig = "managed_by_config"
        case unknownOwner = "unknown_owner"
        case owner
        case expired
        // Media.
        case notStreamable = "not_streamable"
        case notMJPEG = "not_mjpeg"
        case notAFile = "not_a_file"
        case streamUnavailable = "stream_unavailable"
        case noClipper = "no_clipper"
        case noRecorder = "no_recorder"
        case noVideo = "no_video"
        case unplayable
        case tooManyClips = "too_many_clips"
        case tooManyPlaybacks = "too_many_playbacks"
        /// An upload beyond the size limit or the user's quota (413).
        case quotaExceeded = "quota_exceeded"
        /// A request that clashes with the resource's state (a resumable upload's offset, a second writer).
        case conflict
        /// An upload that is not a video the gateway can read (415).
        case unsupportedMedia = "unsupported_media"
        // The gateway.
        case missingResource = "missing_resource"
        case storageUnavailable = "storage_unavailable"
        /// Analytics asked of a gateway without an event backend that answers them.
        case analyticsUnavailable = "analytics_unavailable"
        case `internal`
    }

    public let code: Code
    public let message: String
    /// Per-field problems (a camera definition, a request body). When every one is marked
    /// unusable, the request was well-formed but cannot be used here.
    public let details: [ConfigProblem]
    /// Seconds after which trying again may succeed (rate limits, a stream not ready yet).
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, details: [ConfigProblem] = [], retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Well-formed but unusable: every detail says so (a missing file, a date before 1970).
    public var isUnusable: Bool { !details.isEmpty && details.allSatisfy(\.isUnusable) }

    /// The caller has no identity, or no access to what it asked for (absent or hidden): an open
    /// stream that gets this when its access is checked again ends.
    public var deniesAccess: Bool {
        switch code {
        case .unauthenticated, .invalidToken, .forbidden, .notFound: true
        default: false
        }
    }

    public static let unauthenticated = GatewayError(.unauthenticated, "a bearer token is required")
    public static let `internal` = GatewayError(.internal, "internal error")
    public static func notFound(_ message: String = "not found") -> GatewayError { GatewayError(.notFound, message) }
    public static func badRequest(_ message: String) -> GatewayError { GatewayError(.badRequest, message) }

    /// What `error` means to a user, when it is one the gateway knows: its own, or the storage
    /// being away (a database down or too slow: try again shortly). Anything else is nil — an
    /// internal error whose details stay in the log.
    public static func from(_ error: any Error) -> GatewayError? {
        switch error {
        case let error as GatewayError: error
        case let error as StorageError where error.code == .unavailable:
            GatewayError(.storageUnavailable, "the storage is unavailable; try again shortly", retryAfter: 2)
        case let error as StorageError where error.code == .invalidValue:
            // Well-formed (any string is valid JSON) but not storable here: unusable, 422.
            GatewayError(.invalidRequest, "a value cannot be stored: \(error.message)",
                         details: [ConfigProblem(path: "", reason: error.message, isUnusable: true)])
        default: nil
        }
    }

    /// A camera definition's problems: malformed, or (every problem unusable) not usable here.
    public static func invalidCamera(_ errors: ConfigErrors) -> GatewayError {
        GatewayError(.invalidCamera, errors.problems.map(\.description).joined(separator: "; "), details: errors.problems)
    }
}
