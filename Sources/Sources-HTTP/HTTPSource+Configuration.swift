import GatewayCore

extension HTTPSource {
    public struct Configuration: Decodable, Sendable {
        /// `http://` or `https://` URL of the stream. Required.
        public var url: String
        /// `auto` (probe), `mjpeg` (multipart MJPEG, as IP cameras serve it), `mpegts`, `flv`, or
        /// any other libavformat input format name. Default `auto`.
        public var format: String
        /// Extra request headers (`Authorization`, cookies, …). Default none.
        public var headers: [String: String]
        /// Seconds a connect or read may stall before it is interrupted. Default 10.
        public var timeout: Double
        /// HTTP basic/digest credentials, when not in the URL. Default none.
        public var user: String?
        public var password: String?

        enum CodingKeys: String, CodingKey { case url, format, headers, timeout, user, password }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decode(String.self, forKey: .url)
            format = try container.decodeIfPresent(String.self, forKey: .format) ?? "auto"
            headers = try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
            timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 10
            user = try container.decodeIfPresent(String.self, forKey: .user)
            password = try container.decodeIfPresent(String.self, forKey: .password)
            if container.contains(.url), !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                try decoder.reportProblem(CodingKeys.url, "must start with http:// or https://")
            } else if container.contains(.url), SourceURL(url) == nil {
                try decoder.reportUnusable(CodingKeys.url, "is not a URL with a valid host (a name, an IPv4 address or an [IPv6] address) and port")
            }
            if format.isEmpty {
                try decoder.reportProblem(CodingKeys.format, "must not be empty")
            } else if let name = inputFormatName, !FFmpeg.hasInputFormat(name) {
                try decoder.reportUnusable(CodingKeys.format, "'\(format)' is not an input format of this FFmpeg build")
            }
            for (name, value) in headers.sorted(by: { $0.key < $1.key })
            where name.isEmpty || name.contains(":") || (name + value).unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
                try decoder.reportProblem(CodingKeys.headers, "header '\(name)' is not a valid header name and value")
            }
            try decoder.requireRange(timeout, 0.1...3600, CodingKeys.timeout)
        }

        /// The libavformat demuxer `format` names; nil lets it probe.
        var inputFormatName: String? {
            switch format {
            case "auto": nil
            case "mjpeg": "mpjpeg"
            default: format
            }
        }
    }
}

extension HTTPSource.Configuration: LiveURLConfiguration {
    public var demuxerOptions: Demuxer.Options {
        var options: [String: String] = [
            "rw_timeout": "\(Int64(timeout * 1_000_000))",
            // A camera stream is endless; a dropped connection is the supervisor's to retry.
            "reconnect": "0",
        ]
        if inputFormatName == "mpjpeg" {
            // JPEG frames carry no timing: do not hold back frames to estimate a frame rate.
            options["fpsprobesize"] = "0"
        }
        if !headers.isEmpty {
            options["headers"] = headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\r\n" }.joined()
        }
        return Demuxer.Options(format: inputFormatName, options: options,
                               timeout: .milliseconds(Int64(timeout * 1000)),
                               displayName: URLRedaction.redact(url))
    }
}
