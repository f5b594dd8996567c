import Hummingbird
import HummingbirdCore
import GatewayCore
import JSON

/// `GET /api/cluster` (admins, on any node): the live nodes, each with its address, weight,
/// last heartbeat, whether it is draining and the cameras it owns (from the locks themselves).
/// `POST /api/cluster/nodes/{id}/drain` moves a node's cameras away and keeps new ones off it
/// (until it restarts, or `DELETE` the same path). A gateway without a `cluster` section answers
/// 404 to admins.
struct ClusterRoutes {
    let cluster: ClusterService?

    func register(on router: Router<GatewayRequestContext>) {
        @Sendable func require(_ context: GatewayRequestContext, _ message: String) throws -> ClusterService {
            try UserRoutes.requireAdmin(try context.principal(), message)
            guard let cluster else { throw GatewayError.notFound("this gateway runs alone: plugins.json has no cluster section") }
            return cluster
        }
        router.get("/api/cluster") { _, context in
            let cluster = try require(context, "only admins may see the cluster")
            let nodes = try await cluster.liveNodes()
            return Response.json(.object(JSONObject([
                ("node", .string(cluster.nodeID)),
                ("nodes", .array(nodes.map { entry in
                    .object(JSONObject([
                        ("id", .string(entry.node.id)), ("url", .string(entry.node.url)), ("public_url", .string(entry.node.publicURL)),
                        ("self", .bool(entry.isSelf)),
                        ("weight", .int(entry.node.weight)), ("max_cameras", .int(entry.node.maxCameras)),
                        ("draining", .bool(entry.node.draining)),
                        ("started_at", .string(WallClock.iso8601(entry.node.startedAt))),
                        ("last_heartbeat", .string(WallClock.iso8601(entry.node.heartbeatAt))),
                        ("heartbeat_age_seconds", .double((entry.node.heartbeatAge * 1000).rounded() / 1000)),
                        ("cameras", .array(entry.cameras.map(JSONValue.string))),
                    ]))
                })),
            ])))
        }
        for (method, draining) in [(HTTPRequest.Method.post, true), (.delete, false)] {
            router.on("/api/cluster/nodes/:node/drain", method: method) { _, context in
                let cluster = try require(context, "only admins may drain nodes")
                let node = try context.parameters.require("node")
                guard ClusterConfig.isValidNodeID(node), try await cluster.setDraining(nodeID: node, draining) else {
                    throw GatewayError.notFound("node '\(node.prefix(64))' not found")
                }
                return Response.json(.object(JSONObject([("node", .string(node)), ("draining", .bool(draining))])))
            }
        }
    }
}

extension ClusterService {
    /// A media request (HLS, MJPEG) for a camera that another node runs: 307 to the same path
    /// there (its `public_url`), with `token` — a stream token this node just issued to the
    /// caller, good on every node for `stream_token_ttl_seconds` — in place of the one asked
    /// with. Nil when the camera runs here; 503 while it moves between nodes.
    func redirect(cameraID: String, uri: URI, runsHere: Bool, token: @Sendable () async throws -> String) async throws -> Response? {
        guard !runsHere else { return nil }
        switch placement(of: cameraID) {
        case .here:
            return nil
        case .moving:
            throw GatewayError(.streamUnavailable, "camera '\(cameraID)' is moving to another gateway node; try again in a moment", retryAfter: 1)
        case .node(_, _, let url):
            var query = (uri.query ?? "").split(separator: "&").filter { !$0.hasPrefix("token=") }.map(String.init)
            query.insert("token=" + (try await token()), at: 0)
            var headers = HTTPFields()
            headers[.location] = url + uri.path + "?" + query.joined(separator: "&")
            headers[.cacheControl] = "no-store"
            return Response(status: .temporaryRedirect, headers: headers)
        }
    }
}
