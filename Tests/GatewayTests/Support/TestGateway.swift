import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// Log lines of a test gateway, to check what it writes (never a credential).
final class LogCapture: @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "test-gateway") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
        }
    }
}

/// A gateway built from a plugins.json text, with a data directory of its own and a real
/// SQLite file; `run` serves it over real HTTP on a free loopback port.
final class TestGateway: Sendable {
    static let secret = "test-secret-0123456789abcdef0123456789"
    static let users = ["admin", "olivia", "victor", "oscar", "sam", "rita", "eve"]
    static func password(_ user: String) -> String { "password-\(user)" }

    let directory: String
    let runtime: GatewayRuntime
    let logs: LogCapture
    /// What the gateway printed for a person (generated passwords).
    let announced: LogCapture

    private init(directory: String, runtime: GatewayRuntime, logs: LogCapture, announced: LogCapture) {
        self.directory = directory
        self.runtime = runtime
        self.logs = logs
        self.announced = announced
    }

    /// `users`: the standard cast (admin is an admin); `auth`, `cameras`, `events` are JSON texts.
    static func start(directory: String? = nil, auth: String? = nil, users: String? = nil, cameras: String = "[]",
                      events: String = #"[{"type": "log"}]"#, sources: String = "{}",
                      limits: String = "{}") async throws -> TestGateway {
        let directory = directory ?? TestMedia.temporaryPath("gateway")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let userList = users ?? "[" + Self.users.map {
            #"{"username": "\#($0)", "password": "\#(password($0))", "role": "\#($0 == "admin" ? "admin" : "user")"}"#
        }.joined(separator: ", ") + "]"
        let text = """
        {"server": {"port": 0, "data_dir": "data"},
         "auth": \(auth ?? #"{"jwt_secret": "\#(secret)", "bcrypt_cost": 4}"#),
         "users": \(userList), "events": \(events), "sources": \(sources), "limits": \(limits), "cameras": \(cameras)}
        """
        let config = try ConfigLoader(registry: standardRegistry(), environment: [:]).load(text: text, baseDirectory: directory).get()
        let logs = LogCapture()
        let announced = LogCapture()
        let runtime = try await GatewayRuntime.start(config: config, registry: standardRegistry(), logger: logs.logger) { line in
            announced.append(line)
        }
        return TestGateway(directory: directory, runtime: runtime, logs: logs, announced: announced)
    }

    var dataDirectory: String { directory + "/data" }

    func run<T: Sendable>(_ body: @Sendable (TestHTTP) async throws -> T) async throws -> T {
        try await runtime.makeApplication().test(.live) { client in
            try await body(TestHTTP(client: client))
        }
    }
}

struct TestResponse: Sendable {
    let status: Int
    let headers: HTTPFields
    let text: String
    var json: JSONValue? { try? JSONParser.parse(text) }
    var errorCode: String? {
        if case .string(let code)? = json?["error"]?["code"] { return code }
        return nil
    }
}

/// Requests as a client sends them; every body is kept to check it for leaked secrets.
final class TestHTTP: Sendable {
    let client: any TestClientProtocol
    let bodies = Mutex<[String]>([])

    init(client: any TestClientProtocol) { self.client = client }

    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
                 headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers,
                                                body: json.map { ByteBuffer(string: $0) })
        let text = String(buffer: response.body)
        bodies.withLock { $0.append(text) }
        return TestResponse(status: Int(response.status.code), headers: response.headers, text: text)
    }

    func login(_ username: String, password: String? = nil) async throws -> String {
        let response = try await request(.post, "/api/auth/login",
                                         json: #"{"username": "\#(username)", "password": "\#(password ?? TestGateway.password(username))"}"#)
        guard case .string(let token)? = response.json?["token"] else { throw TestFailure("login of \(username) failed: \(response.text)") }
        return token
    }

    var allBodies: [String] { bodies.withLock { $0 } }
}
