import Hummingbird
import GatewayCore
import JSON

/// `GET /api/users` and `PATCH /api/users/{username}` (`{"role": "admin" | "user"}`): admins
/// list the accounts and change roles. The last admin cannot lose the role (nobody could give it
/// back). A role change takes effect at the user's next request (roles are read per request);
/// open streams read the role again at once (`AccessChanges`, `AccessControl.untilRevoked`).
struct UserRoutes {
    let users: UserService
    let storage: any StorageBackend
    let access: AccessControl
    let events: EventBus

    struct RoleInput: Decodable {
        let role: UserRole
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/users") { _, context in
            try Self.requireAdmin(try context.principal())
            let all = try await storage.users()
            return Response.json(.object(JSONObject([("users", .array(all.map(Views.user)))])))
        }
        router.patch("/api/users/:username") { request, context in
            let principal = try context.principal()
            try Self.requireAdmin(principal)
            let username = try context.parameters.require("username")
            let input = try await RequestBody.decode(RoleInput.self, from: request)
            guard let user = try await storage.user(named: username) else { throw GatewayError.notFound("user '\(username)' not found") }
            guard try await storage.updateUserRole(username: username, role: input.role) else {
                throw GatewayError.notFound("user '\(username)' not found")
            }
            // Checked after the change, so that two admins demoting each other at once (here or
            // on another gateway process) cannot both pass: whoever finds no admin left undoes
            // their own change. Undoing only ever adds an admin.
            if user.role == .admin, input.role != .admin, try await !storage.users().contains(where: { $0.role == .admin }) {
                _ = try await storage.updateUserRole(username: username, role: .admin)
                throw GatewayError(.conflict, "'\(username)' is the only admin; make another user admin first")
            }
            access.changes.notify()
            if user.role != input.role {
                events.emit(GatewayEvent(name: "user.role_changed", actor: principal.username,
                                         details: JSONObject([("username", .string(username)), ("role", .string(input.role.rawValue))])))
            }
            guard let updated = try await storage.user(named: username) else { throw GatewayError.notFound("user '\(username)' not found") }
            return Response.json(.object(JSONObject([("user", Views.user(updated))])))
        }
    }

    static func requireAdmin(_ principal: Principal, _ message: String = "only admins may manage users") throws {
        guard principal.isAdmin else { throw GatewayError(.forbidden, message) }
    }
}
