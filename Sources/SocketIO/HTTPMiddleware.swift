import Hummingbird

/// A request that says `Connection: close` gets `Connection: close` back (RFC 9112 §9.6): the
/// server closes the connection after it, and the client should know before reading it all.
public struct ConnectionCloseMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let closing = request.headers[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
        guard closing else { return try await next(request, context) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.connection] = "close"
        return response
    }
}

/// CORS per `server.cors_origins`: a listed `Origin` is echoed back with credentials allowed;
/// `*` lets any origin read responses *without* credentials (no cookie, no
/// `Access-Control-Allow-Credentials`), so a page elsewhere cannot act as a logged-in user.
/// Preflight `OPTIONS` requests are answered here. The default list is empty.
public struct OriginListCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    let allowAny: Bool

    public init(origins: [String]) {
        self.origins = Set(origins.filter { $0 != "*" })
        allowAny = origins.contains("*")
    }

    func allowed(_ origin: String) -> Bool { allowAny || origins.contains(origin) }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], allowed(origin) else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = corsHeaders(origin)
            headers[.accessControlAllowMethods] = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        for field in corsHeaders(origin) { response.headers[field.name] = field.value }
        return response
    }

    private func corsHeaders(_ origin: String) -> HTTPFields {
        var headers = HTTPFields()
        if origins.contains(origin) {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
        } else {
            headers[.accessControlAllowOrigin] = "*"
        }
        headers[.vary] = "Origin"
        return headers
    }
}
