#if canImport(Glibc)
import Glibc
#endif

/// Where a camera whose source a non-admin chose may connect: never this host or a link-local
/// address (cloud metadata), private ranges only when the policy says so, and any range the
/// admin lists in `allow_networks`. Checked on resolved addresses, at every connect.
public struct DestinationPolicy: Sendable {
    public var allowPrivateNetworks: Bool
    public var allowNetworks: [IPNetwork]

    public init(allowPrivateNetworks: Bool = false, allowNetworks: [IPNetwork] = []) {
        self.allowPrivateNetworks = allowPrivateNetworks
        self.allowNetworks = allowNetworks
    }

    public func permits(_ address: IPAddress) -> Bool {
        let normalized = address.v4.map { IPAddress(mappedV4: $0) } ?? address
        if allowNetworks.contains(where: { $0.contains(normalized) }) { return true }
        switch address.scope {
        case .global: return true
        case .private: return allowPrivateNetworks
        case .loopback, .linkLocal, .reserved: return false
        }
    }

    /// The addresses `host` resolves to, all of them permitted; throws when it does not resolve
    /// or any address is refused (a name that points partly inside is refused as a whole).
    /// Blocking (getaddrinfo): call it from a source's own thread or a thread pool.
    public func resolve(host: String, port: Int) throws(DestinationRefusal) -> [ResolvedAddress] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard !name.isEmpty, name.utf8.count <= 253 else { throw DestinationRefusal(host: host) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, String(port), &hints, &list) == 0, let first = list else { throw DestinationRefusal(host: host) }
        defer { freeaddrinfo(list) }
        var resolved: [ResolvedAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ai_next }
            guard let socketAddress = entry.pointee.ai_addr else { continue }
            let address: IPAddress
            switch Int32(socketAddress.pointee.sa_family) {
            case AF_INET:
                address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { IPAddress(v4: $0.pointee.sin_addr) }
            case AF_INET6:
                address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { IPAddress(v6: $0.pointee.sin6_addr) }
            default: continue
            }
            guard permits(address) else { throw DestinationRefusal(host: host) }
            if !resolved.contains(where: { $0.address == address }) { resolved.append(ResolvedAddress(address: address, port: port)) }
        }
        guard !resolved.isEmpty else { throw DestinationRefusal(host: host) }
        return resolved
    }
}

public struct ResolvedAddress: Sendable, Equatable {
    public let address: IPAddress
    public let port: Int

    /// The address as a URL host: `10.0.0.5` or `[fd00::5]`.
    public var urlHost: String { address.v4 != nil ? address.description : "[\(address.description)]" }
}

/// A destination the source policy refuses. The message says no more than that: whether the
/// name resolved, and to what, is internal information.
public struct DestinationRefusal: Error, CustomStringConvertible, Sendable {
    public let host: String
    public var description: String {
        "'\(host)' is not a destination this camera may use (the source policy allows public addresses and the networks an admin lists)"
    }
}

/// The parts of a source URL the policy needs: scheme, host, port.
public struct SourceURL: Sendable, Equatable {
    public let scheme: String
    public let host: String
    public let port: Int
    /// Where the host sits in the URL, to put a checked address in its place.
    let hostRange: Range<String.Index>
    let text: String

    public init?(_ text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostAndPort = authority[hostStart...]
        var hostEnd = hostAndPort.endIndex
        var port: Int?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else { return nil }
            hostEnd = hostAndPort.index(after: close)
        } else if let colon = hostAndPort.lastIndex(of: ":") {
            hostEnd = colon
        }
        if hostEnd < hostAndPort.endIndex {
            let portText = hostAndPort[hostAndPort.index(after: hostEnd)...]
            guard hostAndPort[hostEnd] == ":", !portText.isEmpty, portText.count <= 5, let number = Int(portText), (1...65535).contains(number) else {
                return nil
            }
            port = number
        }
        let host = String(hostAndPort[..<hostEnd])
        guard Self.isValidHost(host), !authority[..<hostStart].contains(where: { $0.isWhitespace || $0 == "[" || $0 == "]" }) else { return nil }
        guard let defaultPort = Self.defaultPorts[scheme] else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port ?? defaultPort
        self.hostRange = hostStart..<hostEnd
        self.text = text
    }

    static let defaultPorts = ["rtsp": 554, "rtsps": 322, "http": 80, "https": 443]

    /// A host name (letters, digits, `-`, `.`, `_`; RFC 3986's reg-name without the escapes and
    /// sub-delimiters no camera uses), an IPv4 address, or an IPv6 address in brackets that parses.
    static func isValidHost(_ host: String) -> Bool {
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return false }
            let inner = String(host.dropFirst().dropLast())
            return inner.contains(":") && IPAddress(inner) != nil
        }
        return !host.isEmpty && host.utf8.count <= 253
            && host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
    }

    /// The URL with `host` replaced (by a checked address, so a second lookup cannot differ).
    public func replacingHost(with host: String) -> String {
        String(text[..<hostRange.lowerBound]) + host + String(text[hostRange.upperBound...])
    }
}

/// How a restricted camera reaches the network: its destinations checked by `policy`, its
/// HTTP connections through the `EgressProxy` at `proxyURL` (which checks each one, redirects
/// included).
public struct SourceEgress: Sendable {
    public let policy: DestinationPolicy
    public let proxyURL: String

    public init(policy: DestinationPolicy, proxyURL: String) {
        self.policy = policy
        self.proxyURL = proxyURL
    }
}
