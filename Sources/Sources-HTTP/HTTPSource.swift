import Gateway

/// Reads an HTTP camera stream in-process (`type: "http"`): multipart MJPEG (which the camera's
/// supervisor transcodes to H.264 once), MPEG-TS and FLV (copied). Credentials and headers never
/// reach a log or an error message.
public struct HTTPSource: SourceAdapter {
    public static let type = "http"

    private let configuration: Configuration
    private let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }

    public func run(output: any SourceOutput) async throws {
        try await LiveInput.run(url: configuration.url, user: configuration.user, password: configuration.password,
                                options: Self.demuxerOptions(configuration), egress: context.egress, output: output, threadName: "http:\(context.id)")
    }

    static func demuxerOptions(_ configuration: Configuration) -> Demuxer.Options {
        var options: [String: String] = [
            "rw_timeout": "\(Int64(configuration.timeout * 1_000_000))",
            // A camera stream is endless; a dropped connection is the supervisor's to retry.
            "reconnect": "0",
        ]
        if configuration.inputFormatName == "mpjpeg" {
            // JPEG frames carry no timing: do not hold back frames to estimate a frame rate.
            options["fpsprobesize"] = "0"
        }
        if !configuration.headers.isEmpty {
            options["headers"] = configuration.headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\r\n" }.joined()
        }
        return Demuxer.Options(format: configuration.inputFormatName, options: options,
                               timeout: .milliseconds(Int64(configuration.timeout * 1000)),
                               displayName: URLRedaction.redact(configuration.url))
    }
}
