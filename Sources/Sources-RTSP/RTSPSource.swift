import GatewayCore

/// Reads an RTSP camera in-process through libavformat (`type: "rtsp"`): H.264, H.265 and AAC
/// are copied, never re-encoded. Credentials (in the URL or as options) never reach a log or
/// an error message; a connect or read that stalls past `timeout` is interrupted.
public struct RTSPSource: LiveURLSource {
    public static let type = "rtsp"

    public let configuration: Configuration
    public let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }
}
