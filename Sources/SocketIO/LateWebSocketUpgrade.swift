import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTPTypes
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// A WebSocket session, whichever way the connection was upgraded.
/// The channel is the one that carries the WebSocket's frames (a `TunnelChannel` after a late
/// upgrade): a session may write `WebSocketFrame`s to it directly instead of through the writer.
public typealias WebSocketSession = @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, any Channel) async throws -> Void

/// WebSocket upgrades on a keep-alive connection that has already carried HTTP requests (what
/// Node's built-in WebSocket does after a `fetch`, and browsers may do too).
///
/// NIO's upgrade handler looks at a connection's first request only; after that,
/// hummingbird-websocket answers an upgrade request with `307` and closes, which a WebSocket
/// client treats as a failed handshake. Here `LateUpgradeMarker` (in the HTTP pipeline, so on
/// later requests only) moves the `Upgrade` header out of the way, and the responder from
/// `responder(_:sessions:maxFrameSize:)` answers `101` itself and runs the session on a
/// `TunnelChannel` over the connection's bytes, with the same WebSocket handler as a first-request
/// upgrade.
enum LateWebSocketUpgrade {
    static let markerField = HTTPField.Name("x-gateway-late-upgrade")!
    private static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Ends the connection after the answer to a refused late upgrade.
    struct RefusedUpgradeClose: Error {}

    struct Context: WebSocketContext {
        let logger: Logger
    }

    static func responder(
        _ next: @escaping HTTPChannelHandler.Responder,
        sessions: @escaping @Sendable (HTTPRequest, any Channel) async -> WebSocketSession?,
        maxFrameSize: Int
    ) -> HTTPChannelHandler.Responder {
        return { request, writer, channel in
            guard let upgrade = request.headers[markerField] else {
                return try await next(request, writer, channel)
            }
            var head = request.head
            head.headerFields[markerField] = nil
            head.headerFields[.upgrade] = upgrade
            guard let accept = acceptValue(for: head), let session = await sessions(head, channel) else {
                // NIO's HTTP parser reads nothing after a request that asks for an upgrade, so a
                // refused one is answered as HTTP and the connection closes after the answer.
                head.headerFields[.connection] = "close"
                try await next(Request(head: head, body: request.body), writer, channel)
                throw RefusedUpgradeClose()
            }
            let webSocket = try await channel.eventLoop.submit {
                let bridge = TunnelBridge()
                try channel.pipeline.syncOperations.addHandler(bridge, position: .first)
                guard let tunnel = bridge.tunnel else { throw ChannelError.ioOnClosedChannel }
                let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(accept)\r\n\r\n"
                try channel.pipeline.syncOperations.context(handler: bridge)
                    .writeAndFlush(NIOAny(ByteBuffer(string: response)), promise: nil)
                tunnel.activate()
                try tunnel.pipeline.syncOperations.addHandlers([
                    WebSocketFrameEncoder(),
                    ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)),
                    WebSocketProtocolErrorHandler(),
                ])
                return try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                    wrappingChannelSynchronously: tunnel, configuration: .init(isOutboundHalfClosureEnabled: true))
            }.get()
            _ = try await WebSocketHandler.handle(
                type: .server,
                configuration: .init(extensions: [], autoPing: .disabled, validateUTF8: false, maxFrameSize: maxFrameSize),
                asyncChannel: webSocket,
                context: Context(logger: Logger(label: "gateway.websocket")),
                handler: { inbound, outbound, _ in try await session(inbound, outbound, webSocket.channel) })
            try? await channel.close()
        }
    }

    /// `Sec-WebSocket-Accept` for a valid RFC 6455 handshake (GET, version 13, a 16-byte key),
    /// or nil when the request is not one.
    static func acceptValue(for head: HTTPRequest) -> String? {
        guard head.method == .get,
              head.headerFields[.upgrade]?.lowercased().contains("websocket") == true,
              head.headerFields[.secWebSocketVersion] == "13",
              let key = head.headerFields[.secWebSocketKey]?.trimmingCharacters(in: .whitespaces),
              key.utf8.count == 24, let raw = Data(base64Encoded: key), raw.count == 16
        else { return nil }
        let digest = Insecure.SHA1.hash(data: Array((key + acceptGUID).utf8))
        return Data(digest).base64EncodedString()
    }
}

/// Moves the `Upgrade: websocket` of a request that reaches the HTTP pipeline (a connection's
/// later requests) to `x-gateway-late-upgrade`, and drops that field from every other request,
/// so that only this handler can set it.
final class LateUpgradeMarker: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        head.headerFields[LateWebSocketUpgrade.markerField] = nil
        if let upgrade = head.headerFields[.upgrade], upgrade.lowercased().contains("websocket") {
            head.headerFields[.upgrade] = nil
            head.headerFields[LateWebSocketUpgrade.markerField] = upgrade
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
