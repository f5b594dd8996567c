import Gateway

/// Options of the WebSocket chunk sink (`type: "websocket"`); the sink arrives with the Socket.IO issue.
public struct WebSocketSinkConfiguration: Decodable, Sendable {
    /// Packets a viewer may fall behind before it skips to the next keyframe. Default 1024.
    public var viewerQueuePackets = 1024

    enum CodingKeys: String, CodingKey { case viewerQueuePackets = "viewer_queue_packets" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        viewerQueuePackets = try container.decodeIfPresent(Int.self, forKey: .viewerQueuePackets) ?? viewerQueuePackets
        if viewerQueuePackets < 16 { try decoder.reportProblem(CodingKeys.viewerQueuePackets, "must be at least 16") }
    }
}
