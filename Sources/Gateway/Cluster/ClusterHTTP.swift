import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import GatewayCore

/// Requests between the nodes of a cluster: plain HTTP/1.1 to another node's advertised URL
/// (the nodes' private network), one connection per request, signed with a key derived from
/// the shared `auth.jwt_secret` (`ClusterSignature`).
struct ClusterHTTP: Sendable {
    let signature: ClusterSignature
    let nodeID: String

    struct Answer: Sendable {
        let status: Int
        let body: [UInt8]
    }

    /// `method path` on node `base` with `body`; the whole answer, at most `limit` bytes.
    func request(_ method: HTTPMethod, base: String, path: String, body: [UInt8] = [], timeout: Duration = .seconds(10),
                 limit: Int = 1 << 20) async throws -> Answer {
        try await withThrowingTaskGroup(of: Answer.self) { group in
            group.addTask {
                var status = 0
                var received: [UInt8] = []
                try await exchange(method, base: base, path: path, body: body) { part in
                    switch part {
                    case .head(let head): status = Int(head.status.code)
                    case .body(let buffer):
                        guard received.count + buffer.readableBytes <= limit else {
                            throw GatewayError(.internal, "a node's answer is larger than \(limit) bytes")
                        }
                        received += buffer.readableBytesView
                    case .end: break
                    }
                }
                return Answer(status: status, body: received)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw GatewayError(.streamUnavailable, "node \(base) did not answer in time", retryAfter: 1)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// A GET whose body is read as it comes (`receive` is called per part) until it ends, the
    /// connection fails, or the task is cancelled.
    func exchange(_ method: HTTPMethod, base: String, path: String, body: [UInt8] = [],
                  receive: (HTTPClientResponsePart) async throws -> Void) async throws {
        guard let url = URLComponents(string: base), url.scheme == "http", let host = url.host else {
            throw GatewayError(.internal, "node URL \(base) is not an http:// URL")
        }
        let port = url.port ?? 80
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(3))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: port == 80 ? host : "\(host):\(port)")
            head.headers.add(name: "Connection", value: "close")
            head.headers.add(name: "Content-Length", value: String(body.count))
            if !body.isEmpty { head.headers.add(name: "Content-Type", value: "application/json") }
            head.headers.add(name: ClusterSignature.header, value: signature.sign(method: method.rawValue, path: path, body: body, node: nodeID))
            try await outbound.write(.head(head))
            if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            try await outbound.write(.end(nil))
            for try await part in inbound {
                try await receive(part)
                if case .end = part { return }
            }
        }
    }
}

/// `X-Gateway-Cluster: node=ID;t=UNIX;sig=HEX`: HMAC-SHA256, keyed from the shared JWT secret,
/// over the method, path, time and the body's SHA-256. Accepted within 30 s of its time.
struct ClusterSignature: Sendable {
    static let header = "X-Gateway-Cluster"
    private let key: SymmetricKey
    /// Signatures accepted in the last minute: each is good once (a captured call cannot be replayed).
    private let seen = SeenSignatures()

    init(secret: String) {
        key = SymmetricKey(data: SHA256.hash(data: Array(("camera-gateway cluster\u{0}" + secret).utf8)))
    }

    func sign(method: String, path: String, body: [UInt8], node: String, time: Int = Int(WallClock.now())) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: message(method: method, path: path, body: body, node: node, time: time), using: key)
        return "node=\(node);t=\(time);sig=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// The signing node's id when `value` signs this request; nil otherwise.
    func verify(_ value: String?, method: String, path: String, body: [UInt8], now: Double = WallClock.now()) -> String? {
        guard let value, value.utf8.count <= 300 else { return nil }
        var fields: [Substring: Substring] = [:]
        for part in value.split(separator: ";") {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            fields[part[..<equals]] = part[part.index(after: equals)...]
        }
        guard let node = fields["node"], ClusterConfig.isValidNodeID(String(node)), let timeText = fields["t"], timeText.utf8.count <= 12,
              let time = Int(timeText), abs(Double(time) - now) <= 30, let hex = fields["sig"], hex.utf8.count == 64 else { return nil }
        // Bytes, not Characters: a header may hold any byte from 0x80 up.
        var signature: [UInt8] = []
        var high: UInt8?
        for byte in hex.utf8 {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high {
                signature.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        let expected = message(method: method, path: path, body: body, node: String(node), time: time)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: expected, using: key),
              seen.firstUse(String(hex).lowercased(), now: now) else { return nil }
        return String(node)
    }

    private func message(method: String, path: String, body: [UInt8], node: String, time: Int) -> [UInt8] {
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        return Array("\(method)\n\(path)\n\(node)\n\(time)\n\(digest)".utf8)
    }
}

/// The signatures accepted in the last minute (each is good for 30 s either side of its time).
final class SeenSignatures: Sendable {
    private let state = Mutex<(set: Set<String>, order: [(String, Double)])>(([], []))

    /// Whether `signature` is used for the first time (it is remembered for 61 s).
    func firstUse(_ signature: String, now: Double) -> Bool {
        state.withLock { state in
            while let oldest = state.order.first, now - oldest.1 > 61 {
                state.set.remove(oldest.0)
                state.order.removeFirst()
            }
            guard state.set.insert(signature).inserted else { return false }
            state.order.append((signature, now))
            return true
        }
    }
}
