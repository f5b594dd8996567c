@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Testing

/// Where a camera a user creates may connect: the address ranges and the URL parts the
/// source policy judges by.
@Suite struct DestinationPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", IPAddress.Scope.loopback), ("127.255.0.9", .loopback), ("0.0.0.0", .loopback), ("::1", .loopback), ("::", .loopback),
        ("169.254.169.254", .linkLocal), ("fe80::1", .linkLocal), ("10.1.2.3", .private), ("172.16.0.1", .private),
        ("172.31.255.255", .private), ("192.168.1.10", .private), ("100.64.0.1", .private), ("fd00::5", .private),
        ("224.0.0.1", .reserved), ("255.255.255.255", .reserved), ("ff02::1", .reserved),
        ("::ffff:127.0.0.1", .loopback), ("::ffff:169.254.169.254", .linkLocal), ("64:ff9b::a9fe:a9fe", .linkLocal),
        ("8.8.8.8", .global), ("172.32.0.1", .global), ("192.0.2.1", .global), ("2001:4860:4860::8888", .global),
    ])
    func addressesAreClassified(_ text: String, _ scope: IPAddress.Scope) throws {
        #expect(try #require(IPAddress(text)).scope == scope)
    }

    @Test func theDefaultPolicyRefusesThisHostLinkLocalAndPrivateRanges() throws {
        let policy = DestinationPolicy()
        for text in ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "0.0.0.0"] {
            #expect(!policy.permits(try #require(IPAddress(text))), "\(text)")
        }
        #expect(policy.permits(try #require(IPAddress("93.184.216.34"))))
        let lan = DestinationPolicy(allowPrivateNetworks: true)
        #expect(lan.permits(try #require(IPAddress("192.168.1.1"))))
        #expect(!lan.permits(try #require(IPAddress("127.0.0.1"))), "loopback stays refused with private networks allowed")
        #expect(!lan.permits(try #require(IPAddress("169.254.169.254"))))
    }

    @Test func listedNetworksAreAllowedWhateverTheirScope() throws {
        let policy = DestinationPolicy(allowNetworks: [try #require(IPNetwork("192.168.10.0/24")), try #require(IPNetwork("127.0.0.2"))])
        #expect(policy.permits(try #require(IPAddress("192.168.10.77"))))
        #expect(policy.permits(try #require(IPAddress("::ffff:192.168.10.77"))))
        #expect(!policy.permits(try #require(IPAddress("192.168.11.1"))))
        #expect(policy.permits(try #require(IPAddress("127.0.0.2"))))
        #expect(!policy.permits(try #require(IPAddress("127.0.0.1"))))
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("10.0.0/8") == nil)
        #expect(IPNetwork("fd00::/129") == nil)
    }

    @Test func namesAreCheckedOnEveryAddressTheyResolveTo() throws {
        let policy = DestinationPolicy()
        #expect(throws: DestinationRefusal.self) { try policy.resolve(host: "localhost", port: 80) }
        #expect(throws: DestinationRefusal.self) { try policy.resolve(host: "127.1", port: 80) }
        #expect(throws: DestinationRefusal.self) { try policy.resolve(host: "[::1]", port: 80) }
        #expect(throws: DestinationRefusal.self) { try policy.resolve(host: "no-such-host.invalid", port: 80) }
        let allowed = try DestinationPolicy(allowNetworks: [#require(IPNetwork("127.0.0.0/8"))]).resolve(host: "127.0.0.3", port: 554)
        #expect(allowed == [ResolvedAddress(address: try #require(IPAddress("127.0.0.3")), port: 554)])
        // The refusal names the host and nothing it learnt about it.
        do {
            _ = try policy.resolve(host: "localhost", port: 80)
        } catch {
            #expect(!error.description.contains("127.0.0.1"))
        }
    }

    @Test func sourceURLsGiveSchemeHostAndPort() throws {
        let rtsp = try #require(SourceURL("rtsp://user:p@ss:w@rd@cam.example:8554/live?x=1"))
        #expect(rtsp.scheme == "rtsp" && rtsp.host == "cam.example" && rtsp.port == 8554)
        #expect(rtsp.replacingHost(with: "203.0.113.5") == "rtsp://user:p@ss:w@rd@203.0.113.5:8554/live?x=1")
        let https = try #require(SourceURL("HTTPS://[2001:db8::1]/mjpeg"))
        #expect(https.host == "[2001:db8::1]" && https.port == 443)
        #expect(try #require(SourceURL("http://cam/x")).port == 80)
        for bad in ["rtsp://", "rtsp://:554/x", "file:///etc/passwd", "http://cam:99999/x", "http://cam:-1/", "ftp://cam/x", "http://a b/x", "http://[::1/x",
                    "http://a]b/x", "http://a[b/", "http://[zz]/x", "http://[]/", "rtsp://us[er@cam/x", "http://cam%41/", "http://ca\u{00e9}m/"] {
            #expect(SourceURL(bad) == nil, "\(bad)")
        }
    }
}
