import GatewayCore
import Logging
import Synchronization

/// Reads an RTSP camera in-process (`type: "rtsp"`): H.264, H.265 and AAC are copied, never
/// re-encoded. Over TCP (the default) the gateway's own client reads it (`NativeRTSPClient`);
/// UDP, RTSPS, other codecs, redirects and B-frames go through libavformat, and so does every
/// camera with `client: "ffmpeg"`. Credentials (in the URL or as options) never reach a log or
/// an error message; a connect or read that stalls past `timeout` is interrupted.
public struct RTSPSource: LiveURLSource {
    public static let type = "rtsp"

    public let configuration: Configuration
    public let context: PluginContext
    /// Set once the native client found this camera is not for it: libavformat reads it from then on.
    private let libavformatReason = ClientChoice()

    public init(configuration: Configuration, context: PluginContext) throws {
        self.configuration = configuration
        self.context = context
    }

    public func run(output: any SourceOutput) async throws {
        if configuration.usesNativeClient, libavformatReason.reason.withLock({ $0 }) == nil {
            let cancellation = RTSPCancellation()
            let client = NativeRTSPClient(url: configuration.url, user: configuration.user, password: configuration.password,
                                          timeout: .milliseconds(Int64(configuration.timeout * 1000)), egress: context.egress,
                                          displayName: URLRedaction.redact(configuration.url), cancellation: cancellation)
            do {
                try await BlockingThread.run(name: "\(Self.type):\(context.id)", onCancel: cancellation.cancel) {
                    try client.run(output: output)
                }
                throw MediaError(.read, component: client.displayName, "the stream ended")
            } catch let unsupported as NativeRTSPUnsupported {
                libavformatReason.reason.withLock { $0 = unsupported.reason }
                context.logger.notice("read by libavformat from now on", metadata: ["reason": "\(unsupported.reason)"])
                if unsupported.afterBegin {
                    throw MediaError(.read, component: client.displayName, "\(unsupported.reason): reconnecting through libavformat")
                }
            }
        }
        try await LiveInput.run(url: configuration.url, user: configuration.user, password: configuration.password,
                                options: configuration.demuxerOptions, egress: context.egress,
                                output: output, threadName: "\(Self.type):\(context.id)")
    }
}

/// Why a camera is read by libavformat, once the native client found out (kept across sessions).
final class ClientChoice: Sendable {
    let reason = Mutex<String?>(nil)
}
