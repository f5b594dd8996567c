/// plugins.json's `sources` section: what users who are not admins may make a camera open.
/// A camera's source is a capability — it makes the server open files, devices and network
/// connections — so by default only admins choose `file` and `usb` sources, directories and
/// transcoding, and everyone else may point `rtsp`/`http` cameras at public addresses only.
public struct SourcePolicyConfig: Decodable, Sendable, ConfigPlaceholder {
    public enum PrivateNetworks: String, ConfigEnum, Sendable { case deny, allow }

    /// Source types non-admins may create. Only `rtsp` and `http` may be listed: `file` and
    /// `usb` read the server itself. Default `["rtsp", "http"]`; `[]` makes cameras admin-only.
    public var userTypes = Self.networkTypes
    /// Whether non-admins' cameras may reach private ranges (10/8, 172.16/12, 192.168/16,
    /// 100.64/10, fc00::/7). Default `deny`. Loopback and link-local are always refused.
    public var privateNetworks = PrivateNetworks.deny
    /// Address ranges (CIDR) non-admins' cameras may reach even though they are private,
    /// loopback or link-local: the camera LAN, say `["192.168.10.0/24"]`. Default none.
    public var allowNetworks: [IPNetwork] = []

    public static let networkTypes = ["rtsp", "http"]

    enum CodingKeys: String, CodingKey {
        case userTypes = "user_types", privateNetworks = "private_networks", allowNetworks = "allow_networks"
    }

    public init() {}
    public static var configPlaceholder: SourcePolicyConfig { SourcePolicyConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        userTypes = try container.decodeIfPresent([String].self, forKey: .userTypes) ?? userTypes
        privateNetworks = try container.decodeIfPresent(PrivateNetworks.self, forKey: .privateNetworks) ?? privateNetworks
        let networks = try container.decodeIfPresent([String].self, forKey: .allowNetworks) ?? []
        for type in userTypes where !Self.networkTypes.contains(type) {
            try decoder.reportProblem(CodingKeys.userTypes, "'\(type)' cannot be opened to users; only \(Self.networkTypes.joined(separator: ", ")) can (file and usb sources read the server itself)")
        }
        allowNetworks = []
        for text in networks {
            if let network = IPNetwork(text) { allowNetworks.append(network) } else {
                try decoder.reportProblem(CodingKeys.allowNetworks, "'\(text)' is not an address range (CIDR, e.g. 192.168.10.0/24)")
            }
        }
    }

    public var destinations: DestinationPolicy {
        DestinationPolicy(allowPrivateNetworks: privateNetworks == .allow, allowNetworks: allowNetworks)
    }
}
