import GatewayCore

extension FileSource {
    public struct Configuration: Decodable, Sendable {
        public enum Pacing: String, ConfigEnum, Sendable {
            /// Packets are released at the pace of their timestamps, like a live camera.
            case realtime
            /// As fast as the file can be read (benchmarks, tests).
            case none
        }

        /// The media file, relative to plugins.json. Required.
        public var path: String
        /// Start over at the end, with continuous timestamps. Default false.
        public var loop: Bool
        /// Default `realtime`.
        public var pacing: Pacing

        enum CodingKeys: String, CodingKey { case path, loop, pacing }

        public init(path: String, loop: Bool = false, pacing: Pacing = .realtime) {
            self.path = path
            self.loop = loop
            self.pacing = pacing
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let path = try container.decode(String.self, forKey: .path)
            self.path = decoder.resolvePath(path)
            loop = try container.decodeIfPresent(Bool.self, forKey: .loop) ?? false
            pacing = try container.decodeIfPresent(Pacing.self, forKey: .pacing) ?? .realtime
            if container.contains(.path), path.isEmpty {
                try decoder.reportProblem(CodingKeys.path, "must not be empty")
            } else if !path.isEmpty, let reason = FileIO.unreadableReason(self.path) {
                try decoder.reportUnusable(CodingKeys.path, "cannot read \(self.path): \(reason)")
            }
        }
    }
}
