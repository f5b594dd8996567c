import GatewayCore

/// Reads an HTTP camera stream in-process (`type: "http"`): multipart MJPEG (which the camera's
/// supervisor transcodes to H.264 once), MPEG-TS and FLV (copied). Credentials and headers never
/// reach a log or an error message.
public struct HTTPSource: LiveURLSource {
    public static let type = "http"

    public let configuration: Configuration
    public let context: PluginContext

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }
}
