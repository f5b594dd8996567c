import Hummingbird
import NIOCore

/// Per-request state: who is calling (set by `AuthenticationMiddleware`) and from where.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    var authentication: Authentication = .anonymous

    enum Authentication: Sendable {
        case anonymous
        case authenticated(Principal)
        case rejected(APIError)
    }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The caller, or 401 (no token, or a token that did not check out).
    public func principal() throws -> Principal {
        switch authentication {
        case .authenticated(let principal): return principal
        case .rejected(let error): throw error
        case .anonymous: throw APIError.unauthenticated
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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = Self.token(in: request) {
            do {
                context.authentication = .authenticated(try await users.principal(forToken: token))
            } catch let error as APIError {
                context.authentication = .rejected(error)
            }
        }
        return try await next(request, context)
    }

    static func token(in request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
            return ""  // present but not a bearer token: rejected as malformed
        }
        if let cookie = request.cookies["gateway_token"]?.value, !cookie.isEmpty { return cookie }
        return nil
    }
}
