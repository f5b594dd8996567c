import Hummingbird
import HummingbirdAuth
import HTTPTypes
import NIOCore
import GatewayCore
import SocketIO

/// Per-request state: who is calling (set by `CredentialAuthenticator`) and from where.
public struct GatewayRequestContext: AuthRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String
    /// The connection the request came on (for `RequestArrival`).
    public let channel: any Channel
    /// The caller whose credentials checked out.
    public var identity: Principal?
    /// Why the credentials the request presented did not check out.
    var authenticationFailure: GatewayError?
    /// The account credentials the request presented (for `/metrics`' static scrape token).
    var presented: Credentials = .none

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
        channel = source.channel
    }

    /// The caller, or 401 (no credentials, or credentials that did not check out, with why).
    public func principal() throws -> Principal {
        if let identity { return identity }
        throw authenticationFailure ?? GatewayError.unauthenticated
    }

    public var optionalPrincipal: Principal? { identity }
}

/// HummingbirdAuth's authenticator, the one place a request's credentials are read and checked
/// (`Credentials.read`, `CredentialCheck`):
/// - on every request (`.account`): `Authorization: Bearer …` or the `gateway_token` cookie;
/// - on a camera's media routes (`.cameraMedia`, after routing): `?token=`, a stream token for
///   the camera the path names, which decides when present.
/// Credentials that do not check out do not fail the request here: a route that needs a caller
/// answers with their reason (`GatewayRequestContext.principal()`), one that does not goes on.
struct CredentialAuthenticator: AuthenticatorMiddleware {
    typealias Context = GatewayRequestContext
    enum Scope: Sendable {
        /// Origins (besides the gateway's own) whose pages may send cookie-authenticated changes.
        case account(trustedOrigins: Set<String>)
        /// The route parameter that names the camera (or, with a prefix, another subject of
        /// stream tokens: `video:` and an upload's id).
        case cameraMedia(parameter: String, prefix: String = "")
    }

    let check: CredentialCheck
    let scope: Scope

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        switch scope {
        case .account(let trustedOrigins):
            if request.headers[.authorization] == nil, request.cookies["gateway_token"] != nil, !Self.isSafe(request.method),
               !Self.isSameOrigin(request, trusted: trustedOrigins) {
                // A cookie rides along with requests other sites' pages make: changes need proof
                // that the page is ours (the browser's Origin / Sec-Fetch-Site), or a bearer token.
                throw GatewayError(.crossSiteRequest, "a cookie-authenticated change must come from the gateway's own pages")
            }
            let credentials = Self.accountCredentials(request)
            return credentials == .none ? nil : try await check.principal(credentials)
        case .cameraMedia(let parameter, let prefix):
            guard let token = request.uri.queryParameters.get("token") else { return nil }
            return try await check.principal(.stream(String(token)), cameraID: context.parameters.get(parameter).map { prefix + $0 })
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if case .account = scope { context.presented = Self.accountCredentials(request) }
        do {
            if let principal = try await authenticate(request: request, context: context) {
                context.identity = principal
                context.authenticationFailure = nil
            }
        } catch let error as GatewayError {
            context.identity = nil
            context.authenticationFailure = error
        }
        return try await next(request, context)
    }

    static func accountCredentials(_ request: Request) -> Credentials {
        Credentials.read(authorization: request.headers[.authorization], cookie: request.cookies["gateway_token"]?.value)
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
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
