#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as 16 bytes (IPv4 as `::ffff:a.b.c.d`), so one range check serves both.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(v4: v4)
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(v6: v6)
        } else {
            return nil
        }
    }

    init(v4: in_addr) {
        let value = UInt32(bigEndian: v4.s_addr)
        bytes = Array(repeating: 0, count: 10) + [0xFF, 0xFF, UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    init(v6: in6_addr) {
        var copy = v6
        bytes = withUnsafeBytes(of: &copy) { Array($0) }
    }

    /// An IPv4 address (also one mapped into IPv6 or behind the NAT64 prefix) as its 4 bytes.
    public var v4: [UInt8]? {
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        // 64:ff9b::/96 (RFC 6052) reaches the embedded IPv4 address through a translator.
        if bytes[0..<12] == [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] { return Array(bytes[12...]) }
        return nil
    }

    public var description: String {
        if let v4 { return v4.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    /// What kind of network the address belongs to, for the source policy.
    public var scope: Scope {
        if let v4 {
            for (network, scope) in Self.v4Scopes where network.contains(v4: v4) { return scope }
            return .global
        }
        for (network, scope) in Self.v6Scopes where network.contains(self) { return scope }
        return .global
    }

    public enum Scope: String, Sendable {
        /// This host: 127.0.0.0/8, ::1, and the unspecified 0.0.0.0/8 and :: (which reach it too).
        case loopback
        /// 169.254.0.0/16 and fe80::/10: cloud metadata services live here.
        case linkLocal = "link-local"
        /// 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), fc00::/7.
        case `private`
        /// Multicast, broadcast and reserved ranges: never a camera.
        case reserved
        case global
    }

    private static let v4Scopes: [(IPNetwork, Scope)] = ([
        ("0.0.0.0/8", .loopback), ("127.0.0.0/8", .loopback), ("169.254.0.0/16", .linkLocal),
        ("10.0.0.0/8", .private), ("172.16.0.0/12", .private), ("192.168.0.0/16", .private), ("100.64.0.0/10", .private),
        ("224.0.0.0/4", .reserved), ("240.0.0.0/4", .reserved),
    ] as [(String, Scope)]).map { (IPNetwork($0.0)!, $0.1) }

    private static let v6Scopes: [(IPNetwork, Scope)] = ([
        ("::/128", .loopback), ("::1/128", .loopback), ("fe80::/10", .linkLocal), ("fc00::/7", .private),
        ("ff00::/8", .reserved), ("2002::/16", .reserved), ("2001::/32", .reserved), ("::/96", .reserved),
    ] as [(String, Scope)]).map { (IPNetwork($0.0)!, $0.1) }
}

/// An address range in CIDR notation (`192.168.1.0/24`, `fd00::/8`); a bare address is a /32 or /128.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    /// Prefix length over the 16-byte form.
    public let prefixLength: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let isV4 = !parts[0].contains(":")
        let maximum = isV4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard parts[1].count <= 3, let value = Int(parts[1]), (0...maximum).contains(value) else { return nil }
            length = value
        }
        self.address = address
        self.prefixLength = isV4 ? length + 96 : length
        self.description = text
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        var remaining = prefixLength
        for index in 0..<16 where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if candidate.bytes[index] & mask != address.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    func contains(v4: [UInt8]) -> Bool {
        contains(IPAddress(mappedV4: v4))
    }
}

extension IPAddress {
    init(mappedV4 v4: [UInt8]) {
        bytes = Array(repeating: 0, count: 10) + [0xFF, 0xFF] + v4
    }
}
