import Hummingbird
import HTTPTypes
import NIOCore

/// Per-request state: who is calling (set by `AuthenticationMiddleware`) and from where.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    /// The connection the request came on (for `RequestArrival`).
    public let channel: any Channel
    var authentication: Authentication = .anonymous

    enum Authentication: Sendable {
        case anonymous
        case authenticated(Principal)
        case rejected(GatewayError)
    }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        channel = source.channel
    }

    /// The caller, or 401 (no token, or a token that did not check out).
    public func principal() throws -> Principal {
        switch authentication {
        case .authenticated(let principal): return principal
        case .rejected(let error): throw error
        case .anonymous: throw GatewayError.unauthenticated
        }
    }

    public var optionalPrincipal: Principal? {
        if case .authenticated(let principal) = authentication { return principal }
        return nil
    }
}

/// Resolves `Authorization: Bearer …` (or the `gateway_token` cookie) into a principal. A bad
/// token does not fail the request here: routes that need a caller answer 401 with its reason.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let users: UserService
    let streamTokens: StreamTokens
    /// Origins (besides the gateway's own) whose pages may send cookie-authenticated changes.
    let trustedOrigins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if request.headers[.authorization] == nil, request.cookies["gateway_token"] != nil, !Self.isSafe(request.method),
           !Self.isSameOrigin(request, trusted: trustedOrigins) {
            // A cookie rides along with requests other sites' pages make: changes need proof
            // that the page is ours (the browser's Origin / Sec-Fetch-Site), or a bearer token.
            context.authentication = .rejected(GatewayError(.crossSiteRequest,
                                                        "a cookie-authenticated change must come from the gateway's own pages"))
            return try await next(request, context)
        }
        let credentials = Self.credentials(in: request)
        if credentials != .none {
            do {
                context.authentication = .authenticated(try await CredentialCheck(users: users, streamTokens: streamTokens).principal(credentials))
            } catch let error as GatewayError {
                context.authentication = .rejected(error)
            }
        }
        return try await next(request, context)
    }

    static func isSafe(_ method: HTTPRequest.Method) -> Bool { [.get, .head, .options].contains(method) }

    /// Browsers send `Origin` with every unsafe request and `Sec-Fetch-Site` with most; a client
    /// that sends neither is not a browser, and so not a page riding on a cookie.
    static func isSameOrigin(_ request: Request, trusted: Set<String>) -> Bool {
        if let origin = request.headers[.origin] {
            if trusted.contains(origin) { return true }
            guard let host = request.head.authority else { return false }
            return origin == "http://" + host || origin == "https://" + host
        }
        if let site = request.headers[.secFetchSite] { return site == "same-origin" || site == "none" }
        return true
    }

    /// An API request's account credentials (header or cookie; a URL token is for media routes).
    static func credentials(in request: Request) -> Credentials {
        Credentials.read(authorization: request.headers[.authorization], cookie: request.cookies["gateway_token"]?.value)
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
