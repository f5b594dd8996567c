import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import JWTKit
import Testing

/// Claims as an attacker or an identity provider would write them.
struct ForgedClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var name: String?
    var preferred_username: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

@Suite struct TokenTests {
    func userID(_ http: TestHTTP, _ token: String) async throws -> String {
        guard case .string(let id)? = try await http.request(.get, "/api/auth/self", token: token).json?["user"]?["id"] else {
            throw TestFailure("no user id")
        }
        return id
    }

    func sign(_ claims: ForgedClaims, secret: String = TestGateway.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Array(secret.utf8)), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    func expectRejected(_ http: TestHTTP, _ token: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let response = try await http.request(.get, "/api/auth/self", token: token)
        #expect(response.status == 401, "\(reason): \(response.text)", sourceLocation: sourceLocation)
        #expect(response.errorCode == "invalid_token", sourceLocation: sourceLocation)
        #expect(response.headers[.wwwAuthenticate] == "Bearer", sourceLocation: sourceLocation)
    }

    @Test func everyKindOfBadTokenIsA401NeverA500() async throws {
        try await TestGateway.start().run { http in
            let good = try await http.login("olivia")
            let id = try await userID(http, good)
            let now = Date()

            var tampered = Array(good)
            tampered[tampered.count - 2] = tampered[tampered.count - 2] == "A" ? "B" : "A"
            try await expectRejected(http, String(tampered), "bad signature")

            let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
            let payload = Base64URL.encode(Array(#"{"sub":"\#(id)","exp":\#(Int(now.timeIntervalSince1970) + 3600),"name":"olivia"}"#.utf8))
            try await expectRejected(http, "\(header).\(payload).", "alg none")
            try await expectRejected(http, "\(header).\(payload)", "two parts")

            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: .init(value: now.addingTimeInterval(-10)))), "expired")
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: .init(value: now.addingTimeInterval(3600)),
                                                                        nbf: .init(value: now.addingTimeInterval(600)))), "not yet valid")
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: .init(value: now.addingTimeInterval(3600))),
                                                          secret: "another-secret-0123456789abcdef0123"), "foreign secret")
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: "no-such-user"), exp: .init(value: now.addingTimeInterval(3600)))), "unknown user")
            try await expectRejected(http, "not-a-token", "garbage")
            let basic = try await http.request(.get, "/api/auth/self", headers: [.authorization: "Basic b2xpdmlhOnBhc3N3b3Jk"])
            #expect(basic.status == 401)

            // A token the gateway did not issue but signed with its secret and valid claims works:
            // the secret is the trust anchor, and the role comes from storage, not the token.
            let crafted = try await sign(ForgedClaims(sub: .init(value: id), exp: .init(value: now.addingTimeInterval(60))))
            #expect(try await http.request(.get, "/api/auth/self", token: crafted).status == 200)
        }
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        let auth = #"{"jwt_secret": "\#(TestGateway.secret)", "bcrypt_cost": 4, "issuer": "camera-gateway", "audience": "viewers"}"#
        try await TestGateway.start(auth: auth).run { http in
            let good = try await http.login("olivia")
            let id = try await userID(http, good)
            let exp = ExpirationClaim(value: Date().addingTimeInterval(600))
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: exp)), "no issuer")
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: exp, iss: "camera-gateway", aud: "others")), "wrong audience")
            try await expectRejected(http, try await sign(ForgedClaims(sub: .init(value: id), exp: exp, iss: "evil", aud: "viewers")), "wrong issuer")
            #expect(try await http.request(.get, "/api/auth/self", token: try await sign(ForgedClaims(
                sub: .init(value: id), exp: exp, iss: "camera-gateway", aud: "viewers"))).status == 200)
        }
    }

    @Test func tokensFromAJWKSIdentityProviderAreAcceptedWithPinnedAlgorithms() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.parameters)
        let jwks = TestMedia.temporaryPath("jwks.json")
        try #"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "idp-1", "alg": "ES256", "use": "sig", "x": "\#(parameters.x)", "y": "\#(parameters.y)"}]}"#
            .write(toFile: jwks, atomically: true, encoding: .utf8)
        let auth = #"{"jwt_secret": "\#(TestGateway.secret)", "bcrypt_cost": 4, "jwks": "\#(jwks)"}"#
        try await TestGateway.start(auth: auth).run { http in
            let idp = JWTKeyCollection()
            await idp.add(ecdsa: key, kid: "idp-1")
            let claims = ForgedClaims(sub: .init(value: "idp|12345"), exp: .init(value: Date().addingTimeInterval(600)), preferred_username: "carol")
            let token = try await idp.sign(claims, kid: "idp-1")
            let me = try await http.request(.get, "/api/auth/self", token: token)
            #expect(me.status == 200, "\(me.text)")
            #expect(me.json?["user"]?["username"] == .string("carol"))
            #expect(me.json?["user"]?["role"] == .string("user"))
            // The same subject again is the same account.
            #expect(try await http.request(.get, "/api/auth/self", token: token).json?["user"]?["id"] == me.json?["user"]?["id"])
            // A provider user who calls themselves "admin" does not become the local admin, nor
            // does another subject take carol's account.
            for (subject, name) in [("idp|666", "admin"), ("idp|777", "carol")] {
                let impostor = try await idp.sign(ForgedClaims(sub: .init(value: subject), exp: .init(value: Date().addingTimeInterval(600)),
                                                               preferred_username: name), kid: "idp-1")
                try await expectRejected(http, impostor, "\(subject) as \(name)")
            }

            let unknownKey = JWTKeyCollection()
            await unknownKey.add(ecdsa: ES256PrivateKey(), kid: "idp-2")
            try await expectRejected(http, try await unknownKey.sign(claims, kid: "idp-2"), "unknown kid")
            // HS/RS confusion: an HS256 token keyed with the provider's public key material.
            let confused = JWTKeyCollection()
            await confused.add(hmac: HMACKey(from: Array(parameters.x.utf8)), digestAlgorithm: .sha256, kid: "idp-1")
            try await expectRejected(http, try await confused.sign(claims, kid: "idp-1"), "HS256 with the public key")
            // The same signature under another algorithm name.
            let parts = token.split(separator: ".")
            let relabelled = Base64URL.encode(Array(#"{"alg":"RS256","kid":"idp-1","typ":"JWT"}"#.utf8)) + ".\(parts[1]).\(parts[2])"
            try await expectRejected(http, relabelled, "ES256 signature labelled RS256")
        }
    }

    @Test func aJWKSIsFetchedFromAURLAtStart() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.parameters)
        let directory = TestMedia.temporaryPath("jwks-site")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try #"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "web-1", "alg": "ES256", "x": "\#(parameters.x)", "y": "\#(parameters.y)"}]}"#
            .write(toFile: directory + "/jwks.json", atomically: true, encoding: .utf8)
        let server = try StaticHTTPServer(directory: directory)
        defer { server.stop() }
        let auth = #"{"jwt_secret": "\#(TestGateway.secret)", "bcrypt_cost": 4, "jwks": "http://127.0.0.1:\#(server.port)/jwks.json"}"#
        try await TestGateway.start(auth: auth).run { http in
            let idp = JWTKeyCollection()
            await idp.add(ecdsa: key, kid: "web-1")
            let token = try await idp.sign(ForgedClaims(sub: .init(value: "web|1"), exp: .init(value: Date().addingTimeInterval(60)),
                                                        preferred_username: "webuser"), kid: "web-1")
            let me = try await http.request(.get, "/api/auth/self", token: token)
            #expect(me.json?["user"]?["username"] == .string("webuser"))
        }
    }
}

/// Python's http.server on a free loopback port, serving a directory.
final class StaticHTTPServer: @unchecked Sendable {
    let process = Process()
    let port: Int

    init(directory: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", directory]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // "Serving HTTP on 127.0.0.1 port 43567 (http://127.0.0.1:43567/) ..."
        var text = ""
        while !text.contains("port ") || !text.contains("(") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw TestFailure("http.server did not start") }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = text.range(of: #"port (\d+)"#, options: .regularExpression),
              let port = Int(text[range].dropFirst(5)) else { throw TestFailure("no port in \(text)") }
        self.port = port
    }

    /// SIGKILL: the test process runs ServiceLifecycle, which ignores SIGTERM, and a child
    /// started with Foundation's Process inherits that disposition.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
