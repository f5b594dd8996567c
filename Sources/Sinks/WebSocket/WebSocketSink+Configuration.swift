import Gateway

/// Options of the WebSocket chunk sink (`type: "websocket"`).
public struct WebSocketSinkConfiguration: Decodable, Sendable {
    /// Fragments (GOPs) a viewer may fall behind before it skips to the next keyframe. Default 16.
    public var viewerQueueFragments = 16
    /// Bytes that may wait for a client before its stream pauses. Default 4 MiB.
    public var viewerMaxBufferBytes = 4 << 20
    /// Seconds a client may take nothing before it is disconnected. Default 15.
    public var viewerStallSeconds = 15.0

    enum CodingKeys: String, CodingKey {
        case viewerQueueFragments = "viewer_queue_fragments", viewerMaxBufferBytes = "viewer_max_buffer_bytes"
        case viewerStallSeconds = "viewer_stall_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        viewerQueueFragments = try container.decodeIfPresent(Int.self, forKey: .viewerQueueFragments) ?? viewerQueueFragments
        viewerMaxBufferBytes = try container.decodeIfPresent(Int.self, forKey: .viewerMaxBufferBytes) ?? viewerMaxBufferBytes
        viewerStallSeconds = try container.decodeIfPresent(Double.self, forKey: .viewerStallSeconds) ?? viewerStallSeconds
        if viewerQueueFragments < 2 { try decoder.reportProblem(CodingKeys.viewerQueueFragments, "must be at least 2") }
        if viewerMaxBufferBytes < 4096 { try decoder.reportProblem(CodingKeys.viewerMaxBufferBytes, "must be at least 4096") }
        if viewerStallSeconds <= 0 { try decoder.reportProblem(CodingKeys.viewerStallSeconds, "must be positive") }
    }
}
