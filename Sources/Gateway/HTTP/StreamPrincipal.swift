import Hummingbird

/// Who asks for a camera's media over HTTP: the caller the request's account credentials named
/// (bearer token or cookie), or the holder of the camera-scoped stream token in `?token=` (for
/// players that cannot send headers: HLS, `<img>` MJPEG). Tokens are checked by `CredentialCheck`.
struct StreamPrincipal {
    let users: UserService
    let streamTokens: StreamTokens

    func principal(_ request: Request, context: GatewayRequestContext, cameraID: String) async throws -> Principal {
        guard let token = request.uri.queryParameters.get("token") else { return try context.principal() }
        return try await CredentialCheck(users: users, streamTokens: streamTokens).principal(.stream(String(token)), cameraID: cameraID)
    }
}
