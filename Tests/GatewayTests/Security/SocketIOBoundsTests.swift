import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Hummingbird
import Testing

/// What an unauthenticated client can make the Socket.IO endpoint do: open a bounded number of
/// sessions, and send nothing but a small CONNECT before it is authorized.
@Suite struct SocketIOBoundsTests {
    func handshake(_ http: TestHTTP) async throws -> (status: Int, sid: String?) {
        let response = try await http.request(.get, "/socket.io/?EIO=4&transport=polling")
        guard response.status == 200, response.text.hasPrefix("0"), case .string(let sid)? = try? JSONParser.parse(String(response.text.dropFirst()))["sid"] else {
            return (response.status, nil)
        }
        return (response.status, sid)
    }

    @Test func sessionsFromOneAddressAreCapped() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            let cap = gateway.runtime.socketIO.engine.configuration.maxSessionsPerAddress
            for index in 0..<cap {
                let (status, sid) = try await handshake(http)
                #expect(status == 200 && sid != nil, "session \(index)")
            }
            let refused = try await http.request(.get, "/socket.io/?EIO=4&transport=polling")
            #expect(refused.status == 503)
            #expect(refused.headers[.retryAfter] != nil)
            #expect(gateway.runtime.socketIO.engine.sessionCount == cap)
        }
    }

    @Test func onlyASmallConnectMayComeBeforeAuthorization() async throws {
        let gateway = try await TestGateway.start()
        try await gateway.run { http in
            // 428 KB of distinct keys in an EVENT, unauthenticated: refused unparsed, the session closed.
            let (_, sid) = try await handshake(http)
            let sessionID = try #require(sid)
            let keys = (0..<30_000).map { "\"k\($0)\":1" }.joined(separator: ",")
            let posted = try await http.request(.post, "/socket.io/?EIO=4&transport=polling&sid=\(sessionID)", headers: [.contentType: "text/plain"],
                                                body: "42[\"login\",{\(keys)}]")
            #expect(posted.status == 200)
            #expect(try await eventually(timeout: .seconds(5)) {
                let poll = try await http.request(.get, "/socket.io/?EIO=4&transport=polling&sid=\(sessionID)")
                return poll.status == 400 || poll.text.contains("1")
            })
            // A binary packet announcing many attachments is refused before any arrives.
            let (_, second) = try await handshake(http)
            let secondID = try #require(second)
            _ = try await http.request(.post, "/socket.io/?EIO=4&transport=polling&sid=\(secondID)", headers: [.contentType: "text/plain"],
                                       body: "451000000-[\"x\",{\"_placeholder\":true,\"num\":0}]")
            #expect(try await eventually(timeout: .seconds(5)) { gateway.runtime.socketIO.engine.sessionCount <= 1 })
        }
    }
}

extension TestHTTP {
    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields, body: String) async throws -> TestResponse {
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
        return TestResponse(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }
}
