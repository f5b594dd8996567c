import GatewayCore

extension MJPEGSink {
    public struct Configuration: Decodable, Sendable {
        /// Frames a viewer may fall behind before it skips to the newest. Default 8.
        public var viewerQueueFrames: Int

        enum CodingKeys: String, CodingKey { case viewerQueueFrames = "viewer_queue_frames" }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            viewerQueueFrames = try container.decodeIfPresent(Int.self, forKey: .viewerQueueFrames) ?? 8
            if !(1...1000).contains(viewerQueueFrames) { try decoder.reportProblem(CodingKeys.viewerQueueFrames, "must be between 1 and 1000") }
        }
    }
}
