import Gateway

/// Options of the WebSocket chunk sink (`type: "websocket"`).
public struct WebSocketSinkConfiguration: Decodable, Sendable {
    /// Fragments (GOPs) a viewer may fall behind before it skips to the next keyframe. Default 16.
    public var viewerQueueFragments = 16

    enum CodingKeys: String, CodingKey { case viewerQueueFragments = "viewer_queue_fragments" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        viewerQueueFragments = try container.decodeIfPresent(Int.self, forKey: .viewerQueueFragments) ?? viewerQueueFragments
        if viewerQueueFragments < 2 { try decoder.reportProblem(CodingKeys.viewerQueueFragments, "must be at least 2") }
    }
}
