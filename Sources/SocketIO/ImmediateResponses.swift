import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// A response made in full on the connection's event loop.
public struct ImmediateResponse: Sendable {
    public var head: HTTPResponse
    public var body: ByteBuffer

    public init(head: HTTPResponse, body: ByteBuffer) {
        self.head = head
        self.body = body
    }
}

/// Answers some requests on the connection's event loop, before they reach the router: those
/// `answer` can answer at once from what it has at hand (see `docs/hls.md`, "Serving"). Every
/// other request — and every request that follows one still being answered by the router, so
/// that responses keep their order — goes on unchanged.
///
/// Only plain requests qualify: a GET with no body, no `Upgrade`, `Origin`, `Authorization` or
/// `Cookie` field and no `Connection` but `keep-alive` (those need the router's middleware:
/// closing, WebSocket upgrades, CORS, account credentials).
final class ImmediateResponses: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let answer: @Sendable (HTTPRequest) -> ImmediateResponse?
    /// Requests passed on whose response has not ended yet.
    private var passedOn = 0
    /// The parts of the current request go on (it was passed on).
    private var passing = true
    /// The answer to the current request, written when its end arrives.
    private var answered: ImmediateResponse?

    init(answer: @escaping @Sendable (HTTPRequest) -> ImmediateResponse?) {
        self.answer = answer
    }

    static let refusedFields: [HTTPField.Name] = [.upgrade, .origin, .authorization, .cookie, .contentLength,
                                                  .transferEncoding, LateWebSocketUpgrade.markerField]

    static func qualifies(_ head: HTTPRequest) -> Bool {
        guard head.method == .get, !refusedFields.contains(where: { head.headerFields[$0] != nil }) else { return false }
        return head.headerFields[values: .connection].allSatisfy { value in
            value.split(separator: ",").allSatisfy { $0.trimmingCharacters(in: .whitespaces).lowercased() == "keep-alive" }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if passedOn == 0, Self.qualifies(head), let response = answer(head) {
                answered = response
                passing = false
                return
            }
            passing = true
            passedOn += 1
            context.fireChannelRead(data)
        case .body:
            // A GET without Content-Length or Transfer-Encoding has no body; anything else went on.
            if passing { context.fireChannelRead(data) }
        case .end:
            guard !passing, let response = answered else { return context.fireChannelRead(data) }
            answered = nil
            passing = true
            context.write(wrapOutboundOut(.head(response.head)), promise: nil)
            context.write(wrapOutboundOut(.body(response.body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), passedOn > 0 { passedOn -= 1 }
        context.write(data, promise: promise)
    }
}
