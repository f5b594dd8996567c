import CFFmpeg
import Foundation
import GatewayCore
#if canImport(Glibc)
import Glibc
#endif

/// The RTSP connection to a camera: a blocking TCP socket with send and receive timeouts,
/// requests with CSeq and Session, and Basic or Digest authentication (RFC 2617) once the camera
/// asks for it.
final class RTSPConnection {
    let descriptor: Int32
    let timeout: Duration
    let displayName: String
    private let cancellation: RTSPCancellation
    private let credentials: (user: String, password: String)?
    var reader = RTSPReader()
    var session: String?
    private var cseq = 0
    private var challenge: AuthenticationChallenge?
    private var nonceCount = 0

    init(addresses: [ResolvedAddress], timeout: Duration, cancellation: RTSPCancellation,
         credentials: (String, String)?, displayName: String) throws {
        self.timeout = timeout
        self.cancellation = cancellation
        self.credentials = credentials.map { (user: $0.0, password: $0.1) }
        self.displayName = displayName
        var lastError: Int32 = ECONNREFUSED
        var connected: Int32?
        for address in addresses {
            let (descriptor, error) = Self.connect(address, timeout: timeout)
            if let descriptor {
                connected = descriptor
                break
            }
            lastError = error
        }
        guard let connected else {
            if cancellation.isCancelled { throw MediaError(.cancelled, component: displayName, "cancelled") }
            let reason = lastError == ETIMEDOUT ? "no answer within \(timeout)" : String(cString: strerror(lastError)).lowercased()
            throw MediaError(lastError == ETIMEDOUT ? .timeout : .open, component: displayName, "could not connect: \(reason)")
        }
        guard cancellation.adopt(connected) else { throw MediaError(.cancelled, component: displayName, "cancelled") }
        descriptor = connected
        var value = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A connected blocking socket, or the errno of the failure.
    private static func connect(_ address: ResolvedAddress, timeout: Duration) -> (Int32?, Int32) {
        var storage = sockaddr_storage()
        let length: socklen_t
        let family: Int32
        if let v4 = address.address.v4 {
            family = AF_INET
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                let socket = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                socket.pointee.sin_family = sa_family_t(AF_INET)
                socket.pointee.sin_port = in_port_t(UInt16(address.port).bigEndian)
                withUnsafeMutableBytes(of: &socket.pointee.sin_addr) { $0.copyBytes(from: v4) }
            }
        } else {
            family = AF_INET6
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                let socket = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                socket.pointee.sin6_family = sa_family_t(AF_INET6)
                socket.pointee.sin6_port = in_port_t(UInt16(address.port).bigEndian)
                address.address.bytes.withUnsafeBytes { bytes in
                    withUnsafeMutableBytes(of: &socket.pointee.sin6_addr) { $0.copyMemory(from: bytes) }
                }
            }
        }
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return (nil, errno) }
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, length) }
        }
        if result != 0 {
            guard errno == EINPROGRESS else {
                let error = errno
                close(descriptor)
                return (nil, error)
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            let ready = poll(&poller, 1, milliseconds)
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            if ready <= 0 {
                error = ready == 0 ? ETIMEDOUT : errno
            } else {
                getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &size)
            }
            guard error == 0 else {
                close(descriptor)
                return (nil, error)
            }
        }
        // Blocking from here: reads wait with SO_RCVTIMEO.
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags & ~Int32(O_NONBLOCK))
        return (descriptor, 0)
    }

    func send(_ request: RTSPRequest) throws {
        cseq += 1
        let bytes = request.encoded(cseq: cseq, session: session, authorization: authorization(for: request), userAgent: NativeRTSPClient.userAgent)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw failure(reading: false) }
            offset += sent
        }
    }

    /// A keep-alive or TEARDOWN: its answer, if any, is not waited for.
    func sendQuietly(_ request: RTSPRequest) { try? send(request) }

    /// Sends `request` and waits for its response (interleaved packets before it are dropped:
    /// none come before PLAY's answer). A 401 is answered once with credentials; any other
    /// status but 2xx throws, unless `allowFailure`.
    func exchange(_ request: RTSPRequest, allowFailure: Bool = false) throws -> RTSPResponse {
        var authenticated = false
        while true {
            try send(request)
            let sent = cseq
            var response: RTSPResponse?
            while response == nil {
                switch try nextItem() {
                case .response(let reply) where reply.cseq == sent || reply.cseq == nil: response = reply
                default: continue
                }
            }
            let reply = response!
            if reply.status == 401, !authenticated, credentials != nil, let challenge = AuthenticationChallenge(reply.fields("WWW-Authenticate")) {
                self.challenge = challenge
                nonceCount = 0
                authenticated = true
                continue
            }
            // A redirect, to any request, is libavformat's to follow: it decides the target
            // under the source policy before connecting (docs/security.md).
            if (300..<400).contains(reply.status) { throw NativeRTSPUnsupported(reason: "a redirect") }
            if (200..<300).contains(reply.status) || allowFailure { return reply }
            if reply.status == 401 {
                throw MediaError(.unauthorized, component: displayName, "the server refused the credentials (401 Unauthorized)")
            }
            if reply.status == 461 { throw NativeRTSPUnsupported(reason: "the camera does not send RTP over TCP") }
            throw MediaError(.open, component: displayName, "the camera answered \(request.method) with \(reply.statusLine)")
        }
    }

    /// The next item from the camera, reading as needed.
    func nextItem() throws -> RTSPItem {
        while true {
            do {
                if let item = try reader.next() { return item }
            } catch {
                throw MediaError(.read, component: displayName, "not RTSP: \(error.description)")
            }
            try receive()
        }
    }

    /// Bytes the socket holds that have not been read yet.
    var waitingInSocket: Int32 {
        var count: Int32 = 0
        return ioctl(descriptor, UInt(FIONREAD), &count) == 0 ? count : 0
    }

    /// Reads once (up to 64 KiB); throws on timeout, close or cancellation.
    func receive() throws {
        let count = reader.receive(from: descriptor)
        if count <= 0 { throw failure(reading: true, closed: count == 0) }
    }

    private func failure(reading: Bool, closed: Bool = false) -> MediaError {
        let error = errno
        if cancellation.isCancelled { return MediaError(.cancelled, component: displayName, "cancelled") }
        if closed { return MediaError(.read, component: displayName, "the stream ended (the camera closed the connection)") }
        if error == EAGAIN || error == EWOULDBLOCK { return MediaError(.timeout, component: displayName, "no data for \(timeout)") }
        return MediaError(.read, component: displayName, "\(reading ? "reading" : "writing"): \(String(cString: strerror(error)).lowercased())")
    }

    private func authorization(for request: RTSPRequest) -> String? {
        guard let challenge, let credentials else { return nil }
        switch challenge.scheme {
        case .basic:
            return "Basic " + Data("\(credentials.user):\(credentials.password)".utf8).base64EncodedString()
        case .digest(let realm, let nonce, let opaque, let qopAuth):
            let ha1 = md5Hex("\(credentials.user):\(realm):\(credentials.password)")
            let ha2 = md5Hex("\(request.method):\(request.uri)")
            var header = "Digest username=\"\(Self.quoted(credentials.user))\", realm=\"\(Self.quoted(realm))\", nonce=\"\(Self.quoted(nonce))\", uri=\"\(request.uri)\""
            if qopAuth {
                nonceCount += 1
                let count = String(format: "%08x", nonceCount)
                let cnonce = String(format: "%016llx", UInt64.random(in: .min ... .max))
                header += ", response=\"\(md5Hex("\(ha1):\(nonce):\(count):\(cnonce):auth:\(ha2)"))\", qop=auth, nc=\(count), cnonce=\"\(cnonce)\""
            } else {
                header += ", response=\"\(md5Hex("\(ha1):\(nonce):\(ha2)"))\""
            }
            if let opaque { header += ", opaque=\"\(Self.quoted(opaque))\"" }
            return header + ", algorithm=MD5"
        }
    }

    private static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .filter { $0 != "\r" && $0 != "\n" }
    }
}

/// What `WWW-Authenticate` asks for: Digest (MD5, with or without `qop=auth`) when offered,
/// else Basic.
struct AuthenticationChallenge {
    enum Scheme {
        case basic
        case digest(realm: String, nonce: String, opaque: String?, qopAuth: Bool)
    }
    let scheme: Scheme

    init?(_ fields: [String]) {
        var basic = false
        for field in fields {
            let lower = field.lowercased()
            if lower.hasPrefix("digest ") {
                let parameters = Self.parameters(String(field.dropFirst(7)))
                guard let realm = parameters["realm"], let nonce = parameters["nonce"] else { continue }
                let algorithm = parameters["algorithm"]?.uppercased() ?? "MD5"
                guard algorithm == "MD5" else { continue }
                let qop = parameters["qop"]?.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
                scheme = .digest(realm: realm, nonce: nonce, opaque: parameters["opaque"], qopAuth: qop.contains("auth"))
                return
            }
            if lower.hasPrefix("basic") { basic = true }
        }
        guard basic else { return nil }
        scheme = .basic
    }

    /// `name=value` and `name="quoted value"` pairs separated by commas (RFC 7235 auth-params).
    static func parameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var characters = Substring(text)
        while !characters.isEmpty {
            characters = characters.drop(while: { $0 == " " || $0 == "," })
            guard let equals = characters.firstIndex(of: "=") else { break }
            let name = characters[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            characters = characters[characters.index(after: equals)...]
            var value = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                var escaped = false
                while let character = characters.first {
                    characters = characters.dropFirst()
                    if escaped { value.append(character); escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { break } else { value.append(character) }
                }
            } else {
                let end = characters.firstIndex(of: ",") ?? characters.endIndex
                value = characters[..<end].trimmingCharacters(in: .whitespaces)
                characters = characters[end...]
            }
            if result.count < 32 { result[name] = value }
        }
        return result
    }
}

/// MD5 in lower-case hex (libavutil's), for Digest authentication.
func md5Hex(_ text: String) -> String {
    var digest = [UInt8](repeating: 0, count: 16)
    let bytes = Array(text.utf8)
    bytes.withUnsafeBufferPointer { input in
        digest.withUnsafeMutableBufferPointer { av_md5_sum($0.baseAddress, input.baseAddress, input.count) }
    }
    return digest.map { String(format: "%02x", $0) }.joined()
}
