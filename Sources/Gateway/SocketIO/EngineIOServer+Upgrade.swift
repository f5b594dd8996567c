import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades for the given Engine.IO servers (other upgrade requests
    /// fall through to the router, which answers them with the proper error).
    public static func engineIO(
        _ servers: [EngineIOServer],
        otherWebSockets: @escaping @Sendable (HTTPRequest) async -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>? = { _ in nil }
    ) -> HTTPServerBuilder {
        let maxFrame = servers.map(\.configuration.maxPayload).max() ?? (1 << 20)
        return .http1WebSocketUpgrade(configuration: .init(http1: .init(additionalChannelHandlers: [RequestArrival()]),
                                                           ws: .init(maxFrameSize: max(maxFrame, 1 << 16), autoPing: .disabled))) { request, channel, _ in
            let address = channel.remoteAddress?.ipAddress ?? "unknown"
            for server in servers {
                if let handler = server.webSocketHandler(for: request, remoteAddress: address) { return .upgrade([:], handler) }
            }
            if let handler = await otherWebSockets(request) { return .upgrade([:], handler) }
            return .dontUpgrade
        }
    }
}
