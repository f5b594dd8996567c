import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Notes when each request head arrives on a connection, on its event loop, before the request
/// waits for a task of its own. Engine.IO uses it to settle a long-poll and a close that reach
/// the server together, on different connections, in the order they arrived.
public final class RequestArrival: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    private let lastHead = Atomic<Int64>(0)

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { lastHead.store(EngineIOClock.nanoseconds(), ordering: .relaxed) }
        context.fireChannelRead(data)
    }

    /// When the latest request head arrived on `channel` (monotonic nanoseconds), if it has this handler.
    public static func headTime(on channel: any Channel) async -> Int64? {
        guard let handler = try? await channel.pipeline.handler(type: RequestArrival.self).get() else { return nil }
        return handler.lastHead.load(ordering: .relaxed)
    }
}
