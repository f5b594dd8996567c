import Foundation
import Logging
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP proxy on loopback that libavformat's `http`/`https` protocols go through for cameras
/// whose source a non-admin chose (`http_proxy` option). It is where the destination policy
/// holds for HTTP: each connection — the first request, every redirect, every reconnect —
/// resolves the target here, checks every address, and connects to the checked address, so a
/// redirect or a DNS answer that changes cannot reach this host or an internal network.
/// Plain HTTP arrives as an absolute-form request; HTTPS as `CONNECT host:port` (the TLS stays
/// end to end). Only holders of the per-process token (in the proxy URL) may use it.
public final class EgressProxy: Service, Sendable {
    private let listener: Int32
    public let port: Int
    private let token: String
    private let policy: DestinationPolicy
    private let logger: Logger
    private let connectTimeout: Double

    public init(policy: DestinationPolicy, logger: Logger, connectTimeout: Double = 10) throws {
        self.policy = policy
        self.logger = logger
        self.connectTimeout = connectTimeout
        var bytes = [UInt8](repeating: 0, count: 24)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        token = bytes.map { String(format: "%02x", $0) }.joined()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MediaError(.open, component: "egress-proxy", "cannot create a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw MediaError(.open, component: "egress-proxy", "cannot listen on loopback")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// The `http_proxy` value for libavformat: the proxy with its token as credentials.
    public var proxyURL: String { "http://gateway:\(token)@127.0.0.1:\(port)" }

    public func run() async throws {
        let listener = listener
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "egress-proxy"
        thread.start()
        try? await gracefulShutdown()
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let thread = Thread { [self] in
                defer { close(client) }
                serve(client)
            }
            thread.stackSize = 256 << 10
            thread.start()
        }
    }

    /// The most a request head may be: a camera URL and a few headers.
    static let maximumHeadBytes = 16 * 1024

    private func serve(_ client: Int32) {
        Self.setTimeout(client, seconds: connectTimeout)
        guard let (head, rest) = Self.readHead(client) else { return }
        guard let request = ProxyRequest(head) else { return respond(client, "400 Bad Request") }
        // libavformat sends the credentials once challenged.
        guard request.authorization == "gateway:\(token)" else {
            return respond(client, "407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"gateway\"")
        }
        let addresses: [ResolvedAddress]
        do {
            addresses = try policy.resolve(host: request.host, port: request.port)
        } catch {
            logger.warning("egress refused by the source policy", metadata: ["host": "\(request.host)"])
            return respond(client, "403 Forbidden")
        }
        var connected: Int32?
        for address in addresses where connected == nil { connected = Self.connect(address, timeout: connectTimeout) }
        guard let upstream = connected else { return respond(client, "502 Bad Gateway") }
        defer { close(upstream) }
        Self.setTimeout(client, seconds: 0)
        if request.isConnect {
            guard Self.writeAll(client, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) else { return }
        } else {
            guard Self.writeAll(upstream, request.originFormHead + rest) else { return }
        }
        Self.relay(client, upstream)
    }

    private func respond(_ client: Int32, _ status: String) {
        _ = Self.writeAll(client, Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
    }

    static func setTimeout(_ fd: Int32, seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads up to the end of the request head; the bytes after it belong to the body.
    static func readHead(_ fd: Int32) -> (head: [UInt8], rest: [UInt8])? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.count < maximumHeadBytes {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            let searchFrom = max(0, buffer.count - 3)
            buffer.append(contentsOf: chunk[0..<count])
            if let end = headEnd(buffer, from: searchFrom) {
                return (Array(buffer[..<end]), Array(buffer[end...]))
            }
        }
        return nil
    }

    static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { return index + 4 }
            index += 1
        }
        return nil
    }

    static func connect(_ destination: ResolvedAddress, timeout: Double) -> Int32? {
        let isV4 = destination.address.v4 != nil
        let fd = socket(isV4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var result: Int32
        if let v4 = destination.address.v4 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(destination.port).bigEndian
            address.sin_addr.s_addr = (UInt32(v4[0]) << 24 | UInt32(v4[1]) << 16 | UInt32(v4[2]) << 8 | UInt32(v4[3])).bigEndian
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(destination.port).bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { raw in for index in 0..<16 { raw[index] = destination.address.bytes[index] } }
            result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if result != 0 {
            guard errno == EINPROGRESS else { close(fd); return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard poll(&poller, 1, Int32(timeout * 1000)) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else {
                close(fd)
                return nil
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Copies bytes both ways until either side closes.
    static func relay(_ a: Int32, _ b: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pollers = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&pollers, 2, -1)
            if ready < 0 { if errno == EINTR { continue }; return }
            for (index, poller) in pollers.enumerated() where poller.revents != 0 {
                let from = poller.fd
                let to = index == 0 ? b : a
                let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
                guard count > 0, writeAll(to, Array(buffer[0..<count])) else { return }
            }
        }
    }
}

/// A proxy request head: `CONNECT host:port` or an absolute-form `GET http://host[:port]/path`.
struct ProxyRequest {
    let isConnect: Bool
    let host: String
    let port: Int
    let authorization: String?
    /// The request as the origin server expects it (origin-form target, no proxy headers).
    let originFormHead: [UInt8]

    init?(_ head: [UInt8]) {
        guard let text = String(bytes: head, encoding: .utf8) else { return nil }
        var lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return nil }
        var authorization: String?
        var kept: [String] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "proxy-authorization" {
                let parts = value.split(separator: " ", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == "basic", let decoded = Data(base64Encoded: String(parts[1])) {
                    authorization = String(data: decoded, encoding: .utf8)
                }
            } else if name != "proxy-connection" && name != "connection" {
                kept.append(line)
            }
        }
        self.authorization = authorization
        let target = String(requestLine[1])
        if requestLine[0] == "CONNECT" {
            guard let url = SourceURL("https://" + target), !target.contains("/") else { return nil }
            isConnect = true
            host = url.host
            port = url.port
            originFormHead = []
        } else {
            guard let url = SourceURL(target), url.scheme == "http", let schemeEnd = target.range(of: "://") else { return nil }
            let afterScheme = target[schemeEnd.upperBound...]
            let path = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }).map { String(afterScheme[$0...]) } ?? "/"
            isConnect = false
            host = url.host
            port = url.port
            // One request per connection: a kept-alive connection must not carry a request for
            // another host past the check.
            originFormHead = Array((["\(requestLine[0]) \(path.hasPrefix("?") ? "/" + path : path) \(requestLine[2])"] + kept + ["Connection: close", "", ""])
                .joined(separator: "\r\n").utf8)
        }
    }
}
