import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import JWTKit
import Testing

/// Every camera route against every kind of caller.
@Suite struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case owner, admin, viewer, `operator`, stranger, revoked, expiredGrant, noToken, badSignature, algNone, expiredToken
    }

    enum Route: String, CaseIterable {
        case get, patch, delete, listShares, share, unshare

        var action: CameraAction {
            switch self {
            case .get: .view
            case .patch, .delete, .listShares, .share, .unshare: .manage
            }
        }

        func request(_ http: TestHTTP, camera: String, token: String?) async throws -> TestResponse {
            switch self {
            case .get: try await http.request(.get, "/api/cameras/\(camera)", token: token)
            case .patch: try await http.request(.patch, "/api/cameras/\(camera)", token: token, json: #"{"name": "Renamed"}"#)
            case .delete: try await http.request(.delete, "/api/cameras/\(camera)", token: token)
            case .listShares: try await http.request(.get, "/api/cameras/\(camera)/shares", token: token)
            case .share: try await http.request(.post, "/api/cameras/\(camera)/shares", token: token, json: #"{"username": "sam", "role": "viewer"}"#)
            case .unshare: try await http.request(.delete, "/api/cameras/\(camera)/shares/victor", token: token)
            }
        }

        var success: Int {
            switch self {
            case .get, .patch, .listShares: 200
            case .share: 201
            case .delete, .unshare: 204
            }
        }
    }

    func expected(_ caller: Caller, _ route: Route) -> Int {
        switch caller {
        case .noToken, .badSignature, .algNone, .expiredToken: return 401
        case .stranger, .revoked, .expiredGrant: return 404
        case .owner, .admin: return route.success
        case .viewer: return route.action == .view ? route.success : 403
        case .operator: return route.action == .view ? route.success : 403
        }
    }

    struct Cast {
        var tokens: [Caller: String?] = [:]
    }

    /// A fresh camera of olivia's, shared with victor (viewer), oscar (operator), rita (then
    /// revoked) and eve (a grant that has expired).
    func makeCamera(_ http: TestHTTP, _ gateway: TestGateway, owner: String) async throws -> String {
        let created = try await http.request(.post, "/api/cameras", token: owner, json: #"{"name": "Porch", "source": {"type": "rtsp", "url": "rtsp://cam:pw@192.0.2.1/live"}}"#)
        guard created.status == 201, case .string(let id)? = created.json?["id"] else { throw TestFailure("create failed: \(created.text)") }
        for (user, role) in [("victor", "viewer"), ("oscar", "operator"), ("rita", "viewer")] {
            let shared = try await http.request(.post, "/api/cameras/\(id)/shares", token: owner, json: #"{"username": "\#(user)", "role": "\#(role)"}"#)
            guard shared.status == 201 else { throw TestFailure("share failed: \(shared.text)") }
        }
        let revoked = try await http.request(.delete, "/api/cameras/\(id)/shares/rita", token: owner)
        guard revoked.status == 204 else { throw TestFailure("revoke failed: \(revoked.text)") }
        // An expired grant cannot be made through the API (expires_at must be in the future).
        try await gateway.runtime.storage.putGrant(GrantRecord(cameraID: id, username: "eve", role: .operator,
                                                               expiresAt: WallClock.now() - 1, grantedBy: "olivia", createdAt: WallClock.now() - 100))
        return id
    }

    func tokens(_ http: TestHTTP) async throws -> [Caller: String?] {
        var tokens: [Caller: String?] = [:]
        let names: [Caller: String] = [.owner: "olivia", .admin: "admin", .viewer: "victor", .operator: "oscar", .stranger: "sam",
                                       .revoked: "rita", .expiredGrant: "eve"]
        for (caller, name) in names { tokens[caller] = try await http.login(name) }
        tokens[.noToken] = .some(nil)
        let good = tokens[.owner]!!
        tokens[.badSignature] = String(good.dropLast(3)) + (good.hasSuffix("AAA") ? "BBB" : "AAA")
        guard case .string(let id)? = try await http.request(.get, "/api/auth/self", token: good).json?["user"]?["id"] else {
            throw TestFailure("no id")
        }
        let now = Int(Date().timeIntervalSince1970)
        tokens[.algNone] = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(#"{"sub":"\#(id)","exp":\#(now + 600)}"#.utf8)) + "."
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Array(TestGateway.secret.utf8)), digestAlgorithm: .sha256)
        tokens[.expiredToken] = try await keys.sign(ForgedClaims(sub: .init(value: id), exp: .init(value: Date().addingTimeInterval(-30))))
        return tokens
    }

    @Test func everyCameraRouteAgainstEveryCaller() async throws {
        // The matrix makes a camera per route and caller, all olivia's.
        let gateway = try await TestGateway.start(limits: #"{"cameras_per_user": 1000}"#)
        try await gateway.run { http in
            let tokens = try await tokens(http)
            let owner = tokens[.owner]!!
            var failures: [String] = []
            for route in Route.allCases {
                for caller in Caller.allCases {
                    let camera = try await makeCamera(http, gateway, owner: owner)
                    let response = try await route.request(http, camera: camera, token: tokens[caller]!)
                    let want = expected(caller, route)
                    if response.status != want {
                        failures.append("\(route) by \(caller): \(response.status), expected \(want): \(response.text)")
                    }
                    if want >= 400, response.json?["error"]?["status"] != .int(want) {
                        failures.append("\(route) by \(caller): error body \(response.text)")
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
    }

    @Test func listingShowsOnlyWhatTheCallerMaySeeWithTheirRole() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let tokens = try await tokens(http)
            let camera = try await makeCamera(http, gateway, owner: tokens[.owner]!!)
            func roles(_ caller: Caller) async throws -> [String: String] {
                let response = try await http.request(.get, "/api/cameras", token: tokens[caller]!)
                guard case .array(let cameras)? = response.json?["cameras"] else { return ["status": "\(response.status)"] }
                var result: [String: String] = [:]
                for case .object(let entry) in cameras {
                    if case .string(let id)? = entry["id"], case .string(let role)? = entry["role"] { result[id] = role }
                }
                return result
            }
            #expect(try await roles(.owner) == [camera: "owner"])
            #expect(try await roles(.admin) == [camera: "admin"])
            #expect(try await roles(.viewer) == [camera: "viewer"])
            #expect(try await roles(.operator) == [camera: "operator"])
            #expect(try await roles(.stranger) == [:])
            #expect(try await roles(.revoked) == [:])
            #expect(try await roles(.expiredGrant) == [:])
            #expect(try await roles(.noToken) == ["status": "401"])
            // Grantees see what the camera is, not how it is reached.
            let asViewer = try await http.request(.get, "/api/cameras/\(camera)", token: tokens[.viewer]!)
            #expect(asViewer.json?["source"] == .object(JSONObject([("type", .string("rtsp"))])))
            #expect(asViewer.json?["sinks"] == nil)
        }
    }

    @Test func revocationAndExpiryTakeEffectOnTheNextRequest() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let owner = try await http.login("olivia")
            let viewer = try await http.login("victor")
            let created = try await http.request(.post, "/api/cameras", token: owner, json: #"{"name": "Yard", "source": {"type": "rtsp", "url": "rtsp://192.0.2.9/s"}}"#)
            guard case .string(let id)? = created.json?["id"] else { Issue.record("create failed"); return }
            // 4 s: room for a busy test run between granting and the first read.
            let expiresAt = WallClock.now() + 4
            let expiry = WallClock.iso8601(expiresAt)
            #expect(try await http.request(.post, "/api/cameras/\(id)/shares", token: owner,
                                           json: #"{"username": "victor", "expires_at": "\#(expiry)"}"#).status == 201)
            #expect(try await http.request(.get, "/api/cameras/\(id)", token: viewer).status == 200)
            try await Task.sleep(for: .milliseconds(Int64(max(0, expiresAt - WallClock.now()) * 1000) + 200))
            #expect(try await http.request(.get, "/api/cameras/\(id)", token: viewer).status == 404)

            #expect(try await http.request(.post, "/api/cameras/\(id)/shares", token: owner, json: #"{"username": "victor"}"#).status == 201)
            #expect(try await http.request(.get, "/api/cameras/\(id)", token: viewer).status == 200)
            #expect(try await http.request(.delete, "/api/cameras/\(id)/shares/victor", token: owner).status == 204)
            #expect(try await http.request(.get, "/api/cameras/\(id)", token: viewer).status == 404)
        }
    }
}
