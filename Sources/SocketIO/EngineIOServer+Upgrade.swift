import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades for the given Engine.IO servers (other upgrade requests
    /// fall through to the router, which answers them with the proper error). An upgrade is
    /// accepted on a connection's first request and on later ones (`LateWebSocketUpgrade`).
    /// What `immediate` answers is answered on the event loop from the request's bytes, before the
    /// codec and the router (`ImmediateResponses`).
    public static func engineIO(
        _ servers: [EngineIOServer],
        otherWebSockets: @escaping @Sendable (HTTPRequest) async -> WebSocketSession? = { _ in nil },
        immediate: (@Sendable (ImmediateRequest) -> ImmediateResponse?)? = nil
    ) -> HTTPServerBuilder {
        let maxFrame = max(servers.map(\.configuration.maxPayload).max() ?? (1 << 20), 1 << 16)
        let sessions: @Sendable (HTTPRequest, any Channel) async -> WebSocketSession? = { request, channel in
            let address = channel.remoteAddress?.ipAddress ?? "unknown"
            for server in servers {
                if let session = server.webSocketSession(for: request, remoteAddress: address) { return session }
            }
            return await otherWebSockets(request)
        }
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(additionalChannelHandlers: [RequestArrival(), LateUpgradeMarker()]
                + (immediate == nil ? [] : [RoutedResponses()])),
            ws: .init(maxFrameSize: maxFrame, autoPing: .disabled))
        return HTTPServerBuilder { responder in
            let http = HTTP1WebSocketUpgradeChannel(
                responder: LateWebSocketUpgrade.responder(responder, sessions: sessions, maxFrameSize: maxFrame),
                configuration: configuration
            ) { request, channel, _ in
                guard let session = await sessions(request, channel) else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in try await session(inbound, outbound, channel) }
            }
            guard let immediate else { return http }
            return ImmediateChannel(inner: http, answer: immediate)
        }
    }
}
