import Gateway

/// Reads an RTSP camera in-process through libavformat (`type: "rtsp"`): H.264, H.265 and AAC
/// are copied, never re-encoded. Credentials (in the URL or as options) never reach a log or
/// an error message; a connect or read that stalls past `timeout` is interrupted.
public struct RTSPSource: SourceAdapter {
    public static let type = "rtsp"

    private let configuration: Configuration
    private let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }

    public func run(output: any SourceOutput) async throws {
        try await LiveInput.run(url: configuration.url, user: configuration.user, password: configuration.password,
                                options: Self.demuxerOptions(configuration), egress: context.egress, output: output, threadName: "rtsp:\(context.id)")
    }

    static func demuxerOptions(_ configuration: Configuration) -> Demuxer.Options {
        var options: [String: String] = [
            // Socket I/O timeout in microseconds, besides the interrupt callback's deadline.
            "timeout": "\(Int64(configuration.timeout * 1_000_000))",
            // Larger UDP receive buffers: keyframes of a 4 Mbit/s camera are hundreds of KB.
            "buffer_size": "\(4 << 20)",
        ]
        switch configuration.transport {
        case .tcp: options["rtsp_transport"] = "tcp"
        case .udp: options["rtsp_transport"] = "udp"
        case .auto: options["rtsp_transport"] = "udp+tcp"
        }
        return Demuxer.Options(options: options, timeout: .milliseconds(Int64(configuration.timeout * 1000)),
                               displayName: URLRedaction.redact(configuration.url))
    }
}
