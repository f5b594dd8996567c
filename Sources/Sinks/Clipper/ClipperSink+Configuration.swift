import GatewayCore

/// Options of the ring-buffer clipper (`type: "clipper"`); the sink arrives with the recorder issue.
public struct ClipperSinkConfiguration: Decodable, Sendable {
    /// Seconds kept before a trigger. Default 30.
    public var preSeconds = 30.0
    /// Seconds recorded after a trigger. Default 30.
    public var postSeconds = 30.0
    /// Memory cap of the ring buffer. Default 256 MiB.
    public var maxBufferBytes = 256 << 20

    enum CodingKeys: String, CodingKey {
        case preSeconds = "pre_seconds", postSeconds = "post_seconds", maxBufferBytes = "max_buffer_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        preSeconds = try container.decodeIfPresent(Double.self, forKey: .preSeconds) ?? preSeconds
        postSeconds = try container.decodeIfPresent(Double.self, forKey: .postSeconds) ?? postSeconds
        maxBufferBytes = try container.decodeIfPresent(Int.self, forKey: .maxBufferBytes) ?? maxBufferBytes
        if !(0...3600).contains(preSeconds) { try decoder.reportProblem(CodingKeys.preSeconds, "must be between 0 and 3600") }
        if !(0...3600).contains(postSeconds) { try decoder.reportProblem(CodingKeys.postSeconds, "must be between 0 and 3600") }
        try decoder.requireRange(maxBufferBytes, 1 << 20...16 << 30, CodingKeys.maxBufferBytes)
    }
}
