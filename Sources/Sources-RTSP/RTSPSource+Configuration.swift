import GatewayCore

extension RTSPSource {
    public struct Configuration: Decodable, Sendable {
        public enum Transport: String, ConfigEnum, Sendable { case tcp, udp, auto }
        /// Who reads the camera: `auto` (the default) and `native`, the gateway's own client over
        /// TCP (libavformat for UDP, RTSPS and what the native client does not read); `ffmpeg`,
        /// libavformat always.
        public enum Client: String, ConfigEnum, Sendable { case auto, native, ffmpeg }

        /// `rtsp://[user:pass@]host[:port]/path` (or `rtsps://`). Required.
        public var url: String
        /// Default `tcp`; `auto` is TCP for the gateway's own client, UDP then TCP for libavformat.
        public var transport: Transport
        /// Default `auto`.
        public var client: Client
        /// Seconds a connect or read may stall before it is interrupted. Default 10.
        public var timeout: Double
        /// Credentials, when not in the URL. Default none.
        public var user: String?
        public var password: String?

        enum CodingKeys: String, CodingKey { case url, transport, client, timeout, user, password }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decode(String.self, forKey: .url)
            transport = try container.decodeIfPresent(Transport.self, forKey: .transport) ?? .tcp
            client = try container.decodeIfPresent(Client.self, forKey: .client) ?? .auto
            timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 10
            user = try container.decodeIfPresent(String.self, forKey: .user)
            password = try container.decodeIfPresent(String.self, forKey: .password)
            // An absent url is reported as missing; an empty or foreign one here.
            if container.contains(.url), !(url.hasPrefix("rtsp://") || url.hasPrefix("rtsps://")) {
                try decoder.reportProblem(CodingKeys.url, "must start with rtsp:// or rtsps://")
            } else if container.contains(.url), SourceURL(url) == nil {
                try decoder.reportUnusable(CodingKeys.url, "is not a URL with a valid host (a name, an IPv4 address or an [IPv6] address) and port")
            }
            try decoder.requireRange(timeout, 0.1...3600, CodingKeys.timeout)
        }
    }
}

extension RTSPSource.Configuration: LiveURLConfiguration {
    /// Whether the gateway's own client tries the camera first.
    var usesNativeClient: Bool { client != .ffmpeg && transport != .udp && url.hasPrefix("rtsp://") }

    public var demuxerOptions: Demuxer.Options {
        var options: [String: String] = [
            // Socket I/O timeout in microseconds, besides the interrupt callback's deadline.
            "timeout": "\(Int64(timeout * 1_000_000))",
            // Larger UDP receive buffers: keyframes of a 4 Mbit/s camera are hundreds of KB.
            "buffer_size": "\(4 << 20)",
        ]
        switch transport {
        case .tcp: options["rtsp_transport"] = "tcp"
        case .udp: options["rtsp_transport"] = "udp"
        case .auto: options["rtsp_transport"] = "udp+tcp"
        }
        return Demuxer.Options(options: options, timeout: .milliseconds(Int64(timeout * 1000)),
                               displayName: URLRedaction.redact(url))
    }
}
