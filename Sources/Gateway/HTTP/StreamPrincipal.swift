import Hummingbird

/// Who asks for a camera's media: a bearer token or cookie, or the camera-scoped stream token in
/// `?token=` (for players that cannot send headers: HLS, `<img>` MJPEG).
struct StreamPrincipal {
    let users: UserService
    let streamTokens: StreamTokens

    func principal(_ request: Request, context: GatewayRequestContext, cameraID: String) async throws -> Principal {
        guard let token = request.uri.queryParameters.get("token") else { return try context.principal() }
        return try await principal(urlToken: String(token), cameraID: cameraID)
    }

    /// The holder of a stream token from a URL, which must be for `cameraID`. Account tokens are
    /// refused here: a URL ends up in logs, histories and Referer headers.
    func principal(urlToken token: String, cameraID: String) async throws -> Principal {
        let scoped: (userID: String, cameraID: String)
        do {
            scoped = try await streamTokens.verify(token)
        } catch {
            throw APIError(.unauthorized, code: "invalid_token", error.description)
        }
        guard scoped.cameraID == cameraID else { throw APIError(.unauthorized, code: "invalid_token", "the stream token is for another camera") }
        guard let user = try await users.storage.user(id: scoped.userID) else { throw APIError(.unauthorized, code: "invalid_token", "unknown user") }
        return Principal(userID: user.id, username: user.username, role: user.role)
    }
}
