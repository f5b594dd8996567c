import GatewayCore
/// What a request presents to say who it is — read in one place for every way in (REST, HLS,
/// MJPEG, `/ws`, the Socket.IO handshake), so that each means the same everywhere:
/// - `Authorization: Bearer <account token>` (or the `gateway_token` cookie, for pages);
/// - `?token=<stream token>` in a URL: only ever a camera-scoped stream token
///   (`POST /api/cameras/{id}/stream/token`), never an account token — a URL ends up in logs,
///   histories and Referer headers;
/// - the Socket.IO handshake's `auth.token`: an account token (the handshake body is not a URL).
public enum Credentials: Sendable, Equatable {
    case none
    /// An account token (header, cookie, Socket.IO `auth`).
    case account(String)
    /// A camera's stream token from a URL.
    case stream(String)
    /// An `Authorization` header that is not a bearer token.
    case malformed

    /// The header wins over the cookie, and either over a URL token.
    public static func read(authorization: String?, cookie: String? = nil, urlToken: String? = nil, handshakeToken: String? = nil) -> Credentials {
        if let handshakeToken, !handshakeToken.isEmpty { return .account(handshakeToken) }
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .malformed }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            return token.isEmpty ? .malformed : .account(token)
        }
        if let cookie, !cookie.isEmpty { return .account(cookie) }
        if let urlToken { return .stream(urlToken) }
        return .none
    }
}

/// Turns credentials into a principal: the one place that checks tokens.
public struct CredentialCheck: Sendable {
    let users: UserService
    let streamTokens: StreamTokens
    /// Where recent stream-token principals are kept (media routes), or nil.
    let recent: MediaAccessCache?

    public init(users: UserService, streamTokens: StreamTokens, recent: MediaAccessCache? = nil) {
        self.users = users
        self.streamTokens = streamTokens
        self.recent = recent
    }

    /// The principal, or 401. A stream token must be for `cameraID` (nil: no camera here, so a
    /// stream token is refused).
    public func principal(_ credentials: Credentials, cameraID: String? = nil) async throws -> Principal {
        switch credentials {
        case .none: throw GatewayError.unauthenticated
        case .malformed: throw GatewayError(.invalidToken, "the Authorization header must be 'Bearer <token>'")
        case .account(let token): return try await users.principal(forToken: token)
        case .stream(let token):
            guard let cameraID else { throw GatewayError(.invalidToken, "a stream token is only for a camera's media") }
            guard let recent else { return try await streamPrincipal(token, cameraID: cameraID) }
            return try await recent.principal(streamToken: token, subject: cameraID) { try await streamPrincipal(token, cameraID: cameraID) }
        }
    }

    private func streamPrincipal(_ token: String, cameraID: String) async throws -> Principal {
        let scoped: (userID: String, cameraID: String)
        do {
            scoped = try await streamTokens.verify(token)
        } catch {
            throw GatewayError(.invalidToken, error.description)
        }
        guard scoped.cameraID == cameraID else { throw GatewayError(.invalidToken, "the stream token is for another camera") }
        guard let user = try await users.storage.user(id: scoped.userID) else { throw GatewayError(.invalidToken, "unknown user") }
        return Principal(userID: user.id, username: user.username, role: user.role)
    }
}
