import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Hummingbird
import Testing

/// A page on another site must not act as a logged-in user: no credentialed CORS by default,
/// and cookie-authenticated changes only from the gateway's own pages.
@Suite struct CrossSiteTests {
    @Test func theDefaultAllowsNoCredentialedCrossOriginRequests() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let response = try await http.request(.get, "/api/health", headers: [.origin: "https://evil.example"])
            #expect(response.headers[.accessControlAllowOrigin] == nil)
            #expect(response.headers[.accessControlAllowCredentials] == nil)
        }
    }

    @Test func anyOriginReadsWithoutCredentialsAndListedOnesWithThem() async throws {
        let directory = TestMedia.temporaryPath("cors")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = try ConfigLoader(registry: standardRegistry(), environment: [:]).load(text: """
            {"server": {"port": 0, "data_dir": "data", "cors_origins": ["*", "https://console.example"]},
             "auth": {"jwt_secret": "\(TestGateway.secret)", "bcrypt_cost": 4}}
            """, baseDirectory: directory).get()
        let runtime = try await GatewayRuntime.start(config: config, registry: standardRegistry(), logger: LogCapture().logger) { _ in }
        try await runtime.makeApplication().test(.live) { client in
            let http = TestHTTP(client: client)
            let any = try await http.request(.get, "/api/health", headers: [.origin: "https://elsewhere.example"])
            #expect(any.headers[.accessControlAllowOrigin] == "*")
            #expect(any.headers[.accessControlAllowCredentials] == nil)
            let listed = try await http.request(.get, "/api/health", headers: [.origin: "https://console.example"])
            #expect(listed.headers[.accessControlAllowOrigin] == "https://console.example")
            #expect(listed.headers[.accessControlAllowCredentials] == "true")
        }
    }

    /// One policy for the router and the immediate path: `Origin` joins a `Vary` the response has
    /// (a playlist varies by `Accept-Encoding`; replacing that would let a cache serve gzip to a
    /// player that cannot read it), once; an origin not allowed adds nothing.
    @Test func theCORSPolicyAddsOriginToWhatAResponseVariesBy() {
        let policy = CORSPolicy(origins: ["https://console.example"])
        var playlist = HTTPFields()
        playlist[.vary] = "Accept-Encoding"
        policy.apply(origin: "https://console.example", to: &playlist)
        #expect(playlist[values: .vary] == ["Accept-Encoding", "Origin"])
        #expect(playlist[.accessControlAllowOrigin] == "https://console.example" && playlist[.accessControlAllowCredentials] == "true")
        policy.apply(origin: "https://console.example", to: &playlist)
        #expect(playlist[values: .vary] == ["Accept-Encoding", "Origin"])
        #expect(CORSPolicy.namesOrigin("Accept-Encoding,\tORIGIN ") && !CORSPolicy.namesOrigin("Origins, X-Origin"))
        var other = HTTPFields()
        policy.apply(origin: "https://evil.example", to: &other)
        #expect(other.isEmpty)
        var any = HTTPFields()
        CORSPolicy(origins: ["*"]).apply(origin: "https://evil.example", to: &any)
        #expect(any[.accessControlAllowOrigin] == "*" && any[.accessControlAllowCredentials] == nil && any[.vary] == "Origin")
    }

    @Test func cookieAuthenticatedChangesMustComeFromTheGatewaysOwnPages() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let token = try await http.login("olivia")
            let body = #"{"id": "c1", "name": "c", "source": {"type": "rtsp", "url": "rtsp://192.0.2.1/s"}}"#
            var crossSite = HTTPFields()
            crossSite[.cookie] = "gateway_token=\(token)"
            crossSite[.origin] = "https://evil.example"
            crossSite[.contentType] = "application/json"
            let refused = try await http.client.execute(uri: "/api/cameras", method: .post, headers: crossSite, body: ByteBuffer(string: body))
            #expect(refused.status == .forbidden)
            #expect(String(buffer: refused.body).contains("cross_site_request"))
            var fetchedCrossSite = crossSite
            fetchedCrossSite[.origin] = nil
            fetchedCrossSite[.secFetchSite] = "cross-site"
            #expect(try await http.client.execute(uri: "/api/cameras", method: .post, headers: fetchedCrossSite, body: ByteBuffer(string: body)).status == .forbidden)
            // Reads with the cookie, and the same change with a bearer token, still work.
            var read = HTTPFields()
            read[.cookie] = "gateway_token=\(token)"
            read[.origin] = "https://evil.example"
            #expect(try await http.client.execute(uri: "/api/cameras", method: .get, headers: read, body: nil).status == .ok)
            #expect(try await http.request(.post, "/api/cameras", token: token, json: body).status == 201)
        }
    }
}
