import GatewayCore

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
        try decoder.requireRange(viewerQueueFragments, 2...1000, CodingKeys.viewerQueueFragments)
        try decoder.requireRange(viewerMaxBufferBytes, 4096...1 << 30, CodingKeys.viewerMaxBufferBytes)
        try decoder.requireRange(viewerStallSeconds, 0.1...3600, CodingKeys.viewerStallSeconds)
    }
}
