import GatewayCore

/// Options of the WebSocket chunk sink (`type: "websocket"`).
public struct WebSocketSinkConfiguration: Decodable, Sendable {
    /// The longest fragment (seconds) a viewer gets: the camera's fMP4 is cut in parts of at
    /// most this length, at frames, so a player can show a frame about this soon after the
    /// camera sent it. 0: one fragment per GOP (fewer, larger messages; latency of a GOP).
    /// Default 0.2.
    public var partDuration = 0.2
    /// Fragments a viewer may fall behind before it skips to the next keyframe. Default 64
    /// (about 13 s of 0.2 s parts).
    public var viewerQueueFragments = 64
    /// Bytes that may wait for a client before its stream pauses. Default 4 MiB.
    public var viewerMaxBufferBytes = 4 << 20
    /// Seconds a client may take nothing before it is disconnected. Default 15.
    public var viewerStallSeconds = 15.0

    enum CodingKeys: String, CodingKey {
        case viewerQueueFragments = "viewer_queue_fragments", viewerMaxBufferBytes = "viewer_max_buffer_bytes"
        case viewerStallSeconds = "viewer_stall_seconds", partDuration = "part_duration"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        viewerQueueFragments = try container.decodeIfPresent(Int.self, forKey: .viewerQueueFragments) ?? viewerQueueFragments
        viewerMaxBufferBytes = try container.decodeIfPresent(Int.self, forKey: .viewerMaxBufferBytes) ?? viewerMaxBufferBytes
        viewerStallSeconds = try container.decodeIfPresent(Double.self, forKey: .viewerStallSeconds) ?? viewerStallSeconds
        partDuration = try container.decodeIfPresent(Double.self, forKey: .partDuration) ?? partDuration
        if !(0...10).contains(partDuration) {
            try decoder.reportProblem(CodingKeys.partDuration, "must be 0 (one fragment per GOP) or between 0.04 and 10 seconds")
        } else if partDuration > 0, partDuration < 0.04 {
            try decoder.reportUnusable(CodingKeys.partDuration, "must be 0 (one fragment per GOP) or between 0.04 and 10 seconds")
        }
        try decoder.requireRange(viewerQueueFragments, 2...1000, CodingKeys.viewerQueueFragments)
        try decoder.requireRange(viewerMaxBufferBytes, 4096...1 << 30, CodingKeys.viewerMaxBufferBytes)
        try decoder.requireRange(viewerStallSeconds, 0.1...3600, CodingKeys.viewerStallSeconds)
    }
}
