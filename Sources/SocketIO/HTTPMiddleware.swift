import Hummingbird
import HTTPTypes

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
/// The default list is empty. One policy serves the router (`OriginListCORSMiddleware`) and the
/// immediate path (`ImmediateResponses`' answers), so both give the same fields.
public struct CORSPolicy: Sendable {
    let origins: Set<String>
    let allowAny: Bool

    public init(origins: [String]) {
        self.origins = Set(origins.filter { $0 != "*" })
        allowAny = origins.contains("*")
    }

    public func allows(_ origin: String) -> Bool { allowAny || origins.contains(origin) }

    /// Adds what a response to a request from an allowed `origin` carries: the allowed origin,
    /// credentials for a listed one, and `Origin` among the fields the response varies by (kept
    /// beside a `Vary` it has, such as a playlist's `Accept-Encoding`). Nothing for an origin not
    /// allowed: a browser then does not let the page read the response.
    public func apply(origin: String, to headers: inout HTTPFields) {
        guard allows(origin) else { return }
        if origins.contains(origin) {
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowCredentials] = "true"
        } else {
            headers[.accessControlAllowOrigin] = "*"
        }
        if !headers[values: .vary].contains(where: Self.namesOrigin) {
            headers.append(HTTPField(name: .vary, value: "Origin"))
        }
    }

    /// Whether a `Vary` value lists `Origin` (ASCII, case-insensitive; no Foundation on the
    /// immediate path, where this runs for every answer to a page on another origin).
    static func namesOrigin(_ vary: String) -> Bool {
        vary.utf8.split(separator: UInt8(ascii: ",")).contains { item in
            let name = item.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            return name.count == 6 && zip(name, "origin".utf8).allSatisfy { $0 | 0x20 == $1 }
        }
    }
}

/// `CORSPolicy` on the router's path. Preflight `OPTIONS` requests are answered here.
public struct OriginListCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy

    public init(origins: [String]) {
        policy = CORSPolicy(origins: origins)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], policy.allows(origin) else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            policy.apply(origin: origin, to: &headers)
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
        policy.apply(origin: origin, to: &response.headers)
        return response
    }
}
