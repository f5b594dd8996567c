import Hummingbird
import GatewayCore
import JSON

/// `/api/auth/register`, `/api/auth/login`, `/api/auth/self` (and seed 001's `/register`,
/// `/login`, `/self`, which answer the same way).
struct AuthRoutes {
    let users: UserService

    struct Credentials: Decodable {
        let username: String
        let password: String
    }

    func register(on router: Router<GatewayRequestContext>) {
        for prefix in ["/api/auth", ""] {
            router.post("\(prefix)/register") { request, context in
                let credentials = try await RequestBody.decode(Credentials.self, from: request)
                let session = try await users.register(username: credentials.username, password: credentials.password,
                                                       address: context.remoteAddress)
                return Response.json(Views.session(session, expiresIn: users.tokens.expiresIn), status: prefix.isEmpty ? .ok : .created)
            }
            router.post("\(prefix)/login") { request, context in
                let credentials = try await RequestBody.decode(Credentials.self, from: request)
                let session = try await users.login(username: credentials.username, password: credentials.password, address: context.remoteAddress)
                return Response.json(Views.session(session, expiresIn: users.tokens.expiresIn))
            }
            router.get("\(prefix)/self") { _, context in
                let principal = try context.principal()
                guard let user = try await users.storage.user(id: principal.userID) else { throw GatewayError.unauthenticated }
                return Response.json(.object(JSONObject([("user", Views.user(user))])))
            }
        }
    }
}
