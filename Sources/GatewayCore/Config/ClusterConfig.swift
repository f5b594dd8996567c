import Foundation

/// plugins.json's `cluster` section: this process is one node of several that share one
/// PostgreSQL database (see docs/scale-out.md). Without the section the gateway runs alone.
public struct ClusterConfig: Decodable, Sendable, ConfigPlaceholder {
    /// This node's name, unique among the nodes: letters, digits, `.`, `_` or `-`. Default: the host name.
    public var nodeID = ClusterConfig.hostName
    /// The URL other nodes (and redirected players) reach this node at. Default
    /// `http://HOST:PORT` from `server` (the host name when `server.host` is 0.0.0.0).
    public var advertiseURL: String?
    /// Where players are sent (307) for HLS and MJPEG of cameras this node runs, when they
    /// cannot reach `advertise_url` (http or https). Default: `advertise_url`.
    public var publicURL: String?
    /// This node's share of the cameras against the others' (1-1000). Default 1.
    public var weight = 1
    /// Cameras this node ingests at most (1-100000). Default 1000.
    public var maxCameras = 1000
    /// How often the node renews its heartbeat and looks at the cameras (0.2-10). Default 1.
    public var heartbeatSeconds = 1.0
    /// A node that could not renew its heartbeat for this long stops its cameras, and the
    /// others end its database session so its cameras move (2-120, at least 3 heartbeats). Default 6.
    public var leaseSeconds = 6.0
    /// Whether cameras move back to the node that ranks first for them when it is live again. Default true.
    public var rebalance = true

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id", advertiseURL = "advertise_url", publicURL = "public_url", weight, maxCameras = "max_cameras"
        case heartbeatSeconds = "heartbeat_seconds", leaseSeconds = "lease_seconds", rebalance
    }

    public init() {}
    public static var configPlaceholder: ClusterConfig { ClusterConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nodeID = try container.decodeIfPresent(String.self, forKey: .nodeID) ?? nodeID
        advertiseURL = try container.decodeIfPresent(String.self, forKey: .advertiseURL).flatMap { $0.isEmpty ? nil : $0 }
        publicURL = try container.decodeIfPresent(String.self, forKey: .publicURL).flatMap { $0.isEmpty ? nil : $0 }
        weight = try container.decodeIfPresent(Int.self, forKey: .weight) ?? weight
        maxCameras = try container.decodeIfPresent(Int.self, forKey: .maxCameras) ?? maxCameras
        heartbeatSeconds = try container.decodeIfPresent(Double.self, forKey: .heartbeatSeconds) ?? heartbeatSeconds
        leaseSeconds = try container.decodeIfPresent(Double.self, forKey: .leaseSeconds) ?? leaseSeconds
        rebalance = try container.decodeIfPresent(Bool.self, forKey: .rebalance) ?? rebalance
        if !Self.isValidNodeID(nodeID) { try decoder.reportProblem(CodingKeys.nodeID, Self.nodeIDRules) }
        if let advertiseURL, Self.baseURL(advertiseURL) == nil || !advertiseURL.lowercased().hasPrefix("http://") {
            // The nodes call each other in plain HTTP on their private network.
            try decoder.reportProblem(CodingKeys.advertiseURL, "must be an http:// URL with a host and no path, query or credentials")
        }
        if let publicURL, Self.baseURL(publicURL) == nil {
            try decoder.reportProblem(CodingKeys.publicURL, "must be an http:// or https:// URL with a host and no path, query or credentials")
        }
        try decoder.requireRange(weight, 1...1000, CodingKeys.weight)
        try decoder.requireRange(maxCameras, 1...100_000, CodingKeys.maxCameras)
        try decoder.requireRange(heartbeatSeconds, 0.2...10, CodingKeys.heartbeatSeconds)
        try decoder.requireRange(leaseSeconds, 2...120, CodingKeys.leaseSeconds)
        if heartbeatSeconds.isFinite, leaseSeconds.isFinite, leaseSeconds < 3 * heartbeatSeconds, (0.2...10).contains(heartbeatSeconds) {
            try decoder.reportProblem(CodingKeys.leaseSeconds, "must be at least 3 × heartbeat_seconds (\(3 * heartbeatSeconds))")
        }
    }

    public static let nodeIDRules = "1-64 characters: letters, digits, '.', '_' or '-'"
    public static func isValidNodeID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// The host name, as a node id (characters it may not hold become `-`).
    public static var hostName: String {
        let name = String(ProcessInfo.processInfo.hostName.prefix(64)).map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "-" }
        return name.isEmpty ? "node" : String(name)
    }

    /// `scheme://host[:port]` of a URL that names nothing else; nil for anything else.
    public static func baseURL(_ text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = components.host, !host.isEmpty, components.user == nil, components.password == nil,
              components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil else { return nil }
        if let port = components.port, !(1...65_535).contains(port) { return nil }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
