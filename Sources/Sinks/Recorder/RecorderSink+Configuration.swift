import GatewayCore

/// Options of the continuous recorder (`type: "recorder"`).
public struct RecorderSinkConfiguration: Decodable, Sendable {
    /// Record from start. Default true.
    public var enabled = true
    /// Seconds per segment file. Default 600.
    public var segmentDuration = 600.0
    /// Seconds per flushed fragment (what a crash can lose at most). Default 1.
    public var partDuration = 1.0
    /// Delete segments older than this many days. Default: keep.
    public var retentionDays: Double?
    /// Delete the oldest segments above this total. Default: no cap.
    public var maxBytes: Int?
    /// Where segments go, relative to plugins.json. Default: `data_dir/recordings`.
    public var directory: String?

    enum CodingKeys: String, CodingKey {
        case enabled, segmentDuration = "segment_duration", partDuration = "part_duration"
        case retentionDays = "retention_days", maxBytes = "max_bytes", directory
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
        segmentDuration = try container.decodeIfPresent(Double.self, forKey: .segmentDuration) ?? segmentDuration
        partDuration = try container.decodeIfPresent(Double.self, forKey: .partDuration) ?? partDuration
        retentionDays = try container.decodeIfPresent(Double.self, forKey: .retentionDays)
        maxBytes = try container.decodeIfPresent(Int.self, forKey: .maxBytes)
        directory = try container.decodeIfPresent(String.self, forKey: .directory).map { decoder.resolvePath($0) }
        try decoder.requireRange(segmentDuration, 1...86_400, CodingKeys.segmentDuration)
        if !(partDuration > 0 && partDuration <= 86_400) {
            try decoder.reportProblem(CodingKeys.partDuration, "must be positive and at most segment_duration")
        } else if partDuration > segmentDuration {
            try decoder.reportUnusable(CodingKeys.partDuration, "must be positive and at most segment_duration")
        }
        try decoder.requireRange(retentionDays, 0.001...36_500, CodingKeys.retentionDays)
        try decoder.requireRange(maxBytes, 1...1 << 50, CodingKeys.maxBytes)
    }
}
