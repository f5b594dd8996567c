import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct AuthAPITests {
    @Test func registerLoginAndSelf() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let registered = try await http.request(.post, "/api/auth/register", json: #"{"username": "newbie", "password": "correct horse"}"#)
            #expect(registered.status == 201)
            #expect(registered.json?["user"]?["username"] == .string("newbie"))
            #expect(registered.json?["user"]?["role"] == .string("user"))
            #expect(registered.json?["token_type"] == .string("Bearer"))
            guard case .string(let token)? = registered.json?["token"] else { Issue.record("no token"); return }
            let me = try await http.request(.get, "/api/auth/self", token: token)
            #expect(me.status == 200)
            #expect(me.json?["user"]?["username"] == .string("newbie"))

            let login = try await http.request(.post, "/api/auth/login", json: #"{"username": "newbie", "password": "correct horse"}"#)
            #expect(login.status == 200)
            #expect(try await http.request(.get, "/api/auth/self").status == 401)

            let taken = try await http.request(.post, "/api/auth/register", json: #"{"username": "newbie", "password": "another one"}"#)
            #expect(taken.status == 409)
            #expect(taken.errorCode == "user_exists")
            for body in [#"{"username": "x", "password": "long enough"}"#, #"{"username": "bad name!", "password": "long enough"}"#,
                         #"{"username": "shortpw", "password": "short"}"#] {
                let rejected = try await http.request(.post, "/api/auth/register", json: body)
                #expect(rejected.status == 400, "\(body) → \(rejected.text)")
            }
            // No response ever carries a password or its hash.
            #expect(!http.allBodies.contains { $0.contains("correct horse") || $0.contains("$2") })
        }
    }

    @Test func seedRoutesAnswerTheSameWay() async throws {
        try await TestGateway.start().run { http in
            let registered = try await http.request(.post, "/register", json: #"{"username": "seeduser", "password": "seed-password"}"#)
            #expect(registered.status == 200)
            #expect(try await http.request(.post, "/register", json: #"{"username": "seeduser", "password": "seed-password"}"#).status == 409)
            let login = try await http.request(.post, "/login", json: #"{"username": "seeduser", "password": "seed-password"}"#)
            guard case .string(let token)? = login.json?["token"] else { Issue.record("no token: \(login.text)"); return }
            #expect(try await http.request(.get, "/self", token: token).json?["user"]?["username"] == .string("seeduser"))
            #expect(try await http.request(.get, "/self").status == 401)
        }
    }

    @Test func malformedAndOversizedBodiesAreClear400s() async throws {
        try await TestGateway.start().run { http in
            let malformed = try await http.request(.post, "/api/auth/login", json: "{\"username\": \"a\",\n \"password\": }")
            #expect(malformed.status == 400)
            #expect(malformed.errorCode == "malformed_json")
            #expect(malformed.text.contains("line 2"))
            let missing = try await http.request(.post, "/api/auth/login", json: #"{"username": 5}"#)
            #expect(missing.status == 400)
            #expect(missing.errorCode == "invalid_request")
            let details = missing.json?["error"]?["details"]
            #expect(details == .array([
                .object(JSONObject([("path", .string("username")), ("reason", .string("expected a string, got an integer"))])),
                .object(JSONObject([("path", .string("password")), ("reason", .string("missing required option 'password'"))])),
            ]))
            let huge = try await http.request(.post, "/api/auth/login", json: #"{"username": ""# + String(repeating: "a", count: 100_000) + #""}"#)
            #expect(huge.status == 413)
            #expect(huge.json?["error"]?["status"] == .int(413))
        }
    }

    @Test func registrationCanBeTurnedOff() async throws {
        let gateway = try await TestGateway.start(auth: #"{"jwt_secret": "\#(TestGateway.secret)", "bcrypt_cost": 4, "allow_registration": false}"#)
        try await gateway.run { http in
            let response = try await http.request(.post, "/api/auth/register", json: #"{"username": "newbie", "password": "long enough"}"#)
            #expect(response.status == 403)
            #expect(response.errorCode == "registration_closed")
        }
    }

    @Test func failedLoginsAreRateLimitedPerUsernameAndPerAddress() async throws {
        try await TestGateway.start().run { http in
            for _ in 0..<5 {
                #expect(try await http.request(.post, "/api/auth/login", json: #"{"username": "olivia", "password": "wrong-guess"}"#).status == 401)
            }
            let limited = try await http.request(.post, "/api/auth/login", json: #"{"username": "olivia", "password": "password-olivia"}"#)
            #expect(limited.status == 429)
            #expect(limited.errorCode == "rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            // Another user from the same address still gets in, until the address itself is limited.
            #expect(try await http.request(.post, "/api/auth/login", json: #"{"username": "victor", "password": "password-victor"}"#).status == 200)
            for index in 0..<15 {
                _ = try await http.request(.post, "/api/auth/login", json: #"{"username": "guess\#(index)", "password": "wrong-guess"}"#)
            }
            #expect(try await http.request(.post, "/api/auth/login", json: #"{"username": "oscar", "password": "password-oscar"}"#).status == 429)
        }
    }

    @Test func anEmptyAdminPasswordIsGeneratedOnceAndStoredAsABcryptHash() async throws {
        let directory = TestMedia.temporaryPath("admin")
        let users = #"[{"username": "admin", "password": "", "role": "admin"}]"#
        let first = try await TestGateway.start(directory: directory, users: users)
        let line = try #require(first.announced.all.first)
        let password = try #require(line.split(separator: " ").dropFirst(4).first.map(String.init))
        #expect(password.count >= 20)
        try await first.run { http in
            let login = try await http.request(.post, "/api/auth/login", json: #"{"username": "admin", "password": "\#(password)"}"#)
            #expect(login.status == 200)
        }
        #expect(!first.logs.all.contains { $0.contains(password) })
        await first.runtime.storage.close()

        var database = try FileIO.read(first.dataDirectory + "/gateway.sqlite")
        database += (try? FileIO.read(first.dataDirectory + "/gateway.sqlite-wal")) ?? []
        let text = String(decoding: database, as: UTF8.self)
        #expect(text.contains("$2b$") || text.contains("$2y$") || text.contains("$2a$"))
        #expect(!text.contains(password))
        for user in TestGateway.users { #expect(!text.contains(TestGateway.password(user))) }

        let second = try await TestGateway.start(directory: directory, users: users)
        #expect(second.announced.all.isEmpty, "the password is announced only once")
        await second.runtime.storage.close()
    }

    @Test func aGeneratedJWTSecretIsPrivateAndTokensSurviveARestart() async throws {
        let directory = TestMedia.temporaryPath("secret")
        let auth = #"{"bcrypt_cost": 4}"#
        let first = try await TestGateway.start(directory: directory, auth: auth)
        let token = try await first.run { http in try await http.login("olivia") }
        await first.runtime.storage.close()
        var info = stat()
        #expect(stat(first.dataDirectory + "/jwt-secret", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)

        let second = try await TestGateway.start(directory: directory, auth: auth)
        try await second.run { http in
            let me = try await http.request(.get, "/api/auth/self", token: token)
            #expect(me.json?["user"]?["username"] == .string("olivia"))
        }
    }
}
