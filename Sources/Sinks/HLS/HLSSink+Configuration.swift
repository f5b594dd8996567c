import GatewayCore

/// Options of the HLS sink (`type: "hls"`); the sink arrives with the HLS issue.
public struct HLSSinkConfiguration: Decodable, Sendable {
    public enum Storage: String, ConfigEnum, Sendable { case memory, directory }

    /// Target segment length in seconds, cut at keyframes. Default 2.
    public var segmentDuration = 2.0
    /// LL-HLS part length in seconds; 0 turns LL-HLS off. Default 0.2.
    public var partDuration = 0.2
    /// Segments kept in the playlist. Default 6.
    public var window = 6
    /// `memory` or `directory`. Default `memory`.
    public var storage = Storage.memory
    /// Where segments go with `storage: directory`, relative to plugins.json.
    public var directory: String?
    /// Seconds without a request before the muxer stops. Default 30.
    public var idleTimeout = 30.0

    enum CodingKeys: String, CodingKey {
        case segmentDuration = "segment_duration", partDuration = "part_duration", window, storage, directory
        case idleTimeout = "idle_timeout"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        segmentDuration = try container.decodeIfPresent(Double.self, forKey: .segmentDuration) ?? segmentDuration
        partDuration = try container.decodeIfPresent(Double.self, forKey: .partDuration) ?? partDuration
        window = try container.decodeIfPresent(Int.self, forKey: .window) ?? window
        storage = try container.decodeIfPresent(Storage.self, forKey: .storage) ?? storage
        directory = try container.decodeIfPresent(String.self, forKey: .directory).map { decoder.resolvePath($0) }
        idleTimeout = try container.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? idleTimeout
        try decoder.requireRange(segmentDuration, 0.1...60, CodingKeys.segmentDuration)
        if !(0...60).contains(partDuration) {
            try decoder.reportProblem(CodingKeys.partDuration, "must be 0 (off) or between 0 and segment_duration")
        } else if partDuration >= segmentDuration {
            try decoder.reportUnusable(CodingKeys.partDuration, "must be 0 (off) or between 0 and segment_duration")
        }
        try decoder.requireRange(window, 3...1000, CodingKeys.window)
        if storage == .directory, directory == nil { try decoder.reportUnusable(CodingKeys.directory, "is required with storage 'directory'") }
        try decoder.requireRange(idleTimeout, 0.1...86_400, CodingKeys.idleTimeout)
    }
}
