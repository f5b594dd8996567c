import Gateway

extension RTSPSource {
    public struct Configuration: Decodable, Sendable {
        public enum Transport: String, ConfigEnum, Sendable { case tcp, udp, auto }

        /// `rtsp://[user:pass@]host[:port]/path` (or `rtsps://`). Required.
        public var url: String
        /// Default `tcp`.
        public var transport: Transport
        /// Seconds a connect or read may stall before it is interrupted. Default 10.
        public var timeout: Double
        /// Credentials, when not in the URL. Default none.
        public var user: String?
        public var password: String?

        enum CodingKeys: String, CodingKey { case url, transport, timeout, user, password }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decode(String.self, forKey: .url)
            transport = try container.decodeIfPresent(Transport.self, forKey: .transport) ?? .tcp
            timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 10
            user = try container.decodeIfPresent(String.self, forKey: .user)
            password = try container.decodeIfPresent(String.self, forKey: .password)
            // An absent url is reported as missing; an empty or foreign one here.
            if container.contains(.url), !(url.hasPrefix("rtsp://") || url.hasPrefix("rtsps://")) {
                try decoder.reportProblem(CodingKeys.url, "must start with rtsp:// or rtsps://")
            }
            try decoder.requireRange(timeout, 0.1...3600, CodingKeys.timeout)
        }
    }
}
