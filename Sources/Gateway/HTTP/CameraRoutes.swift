import Hummingbird
import GatewayCore
import JSON

/// `/api/cameras` and `/api/cameras/{id}`: every handler goes through `CameraOperations`,
/// which runs the access decision.
struct CameraRoutes {
    let cameras: CameraOperations
    let manager: CameraManager

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/cameras") { _, context in
            let visible = try await cameras.list(try context.principal())
            return Response.json(.object(JSONObject([("cameras", .array(visible.map { view($0.0, $0.1) }))])))
        }
        router.post("/api/cameras") { request, context in
            let principal = try context.principal()
            let input = try await RequestBody.decode(CameraOperations.Input.self, from: request)
            let record = try await cameras.create(principal, input)
            let headers: HTTPFields = [.location: "/api/cameras/\(record.id)"]
            var response = Response.json(view(record, principal.isAdmin ? .admin : .owner), status: .created)
            response.headers.append(contentsOf: headers)
            return response
        }
        router.get("/api/cameras/:id") { _, context in
            let (record, role) = try await cameras.get(try context.principal(), id: try context.parameters.require("id"))
            return Response.json(view(record, role))
        }
        router.patch("/api/cameras/:id") { request, context in
            let principal = try context.principal()
            let id = try context.parameters.require("id")
            let patch = try await RequestBody.decode(CameraOperations.Patch.self, from: request)
            let (record, role) = try await cameras.update(principal, id: id, patch)
            return Response.json(view(record, role))
        }
        router.delete("/api/cameras/:id") { _, context in
            try await cameras.delete(try context.principal(), id: try context.parameters.require("id"))
            return Response(status: .noContent)
        }
    }

    func view(_ record: CameraRecord, _ role: CameraRole) -> JSONValue {
        Views.camera(record, role: role, manager: manager)
    }
}

/// `/api/cameras/{id}/shares`: grants, managed by the owner or an admin.
struct ShareRoutes {
    let cameras: CameraOperations

    struct ShareInput: Decodable {
        let username: String
        let role: GrantRole
        /// RFC 3339 time or Unix seconds.
        let expiresAt: JSONValue?

        enum CodingKeys: String, CodingKey { case username, role, expiresAt = "expires_at" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            username = try container.decode(String.self, forKey: .username)
            role = try container.decodeIfPresent(GrantRole.self, forKey: .role) ?? .viewer
            expiresAt = try container.decodeIfPresent(JSONValue.self, forKey: .expiresAt)
        }
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/cameras/:id/shares") { _, context in
            let grants = try await cameras.shares(try context.principal(), id: try context.parameters.require("id"))
            return Response.json(.object(JSONObject([("shares", .array(grants.map(Views.grant)))])))
        }
        router.post("/api/cameras/:id/shares") { request, context in
            let principal = try context.principal()
            let id = try context.parameters.require("id")
            let input = try await RequestBody.decode(ShareInput.self, from: request)
            let grant = try await cameras.share(principal, id: id, username: input.username, role: input.role,
                                                expiresAt: try Self.time(input.expiresAt))
            return Response.json(Views.grant(grant), status: .created)
        }
        router.delete("/api/cameras/:id/shares/:username") { _, context in
            try await cameras.unshare(try context.principal(), id: try context.parameters.require("id"),
                                      username: try context.parameters.require("username"))
            return Response(status: .noContent)
        }
    }

    /// `expires_at` as Unix seconds, within the times the gateway can represent (years 1970-9999).
    static func time(_ value: JSONValue?) throws -> Double? {
        let seconds: Double
        switch value {
        case nil, .null?: return nil
        case .int(let number)?: seconds = Double(number)
        case .double(let number)?: seconds = number
        case .string(let text)?:
            guard let parsed = RFC3339.parse(text) else { throw GatewayError.badRequest("expires_at: '\(text)' is not an RFC 3339 time") }
            seconds = parsed
        default: throw GatewayError.badRequest("expires_at must be an RFC 3339 time or Unix seconds")
        }
        guard WallClock.representable.contains(seconds) else {
            // A number outside the documented range is malformed (400); a well-formed date the
            // gateway cannot use (before 1970) is refused as content (422).
            var wellFormed = false
            if case .string? = value { wellFormed = true }
            throw GatewayError(.invalidRequest, "expires_at must be a time between 1970 and 9999",
                               details: [ConfigProblem(path: "expires_at", reason: "out of range", isUnusable: wellFormed)])
        }
        return seconds
    }
}
