import NIOCore

/// A channel of its own over the bytes of a TCP connection that already carries an HTTP/1
/// pipeline: `TunnelBridge`, placed first in the connection's pipeline, hands every byte that
/// arrives to the tunnel's pipeline (and none to the HTTP decoder), and the tunnel's writes,
/// flushes, reads and closes go to the socket through the bridge. A WebSocket upgrade that
/// arrives after HTTP requests on a keep-alive connection runs on one (see `LateWebSocketUpgrade`),
/// because the connection's own pipeline already ends in the HTTP request stream.
///
/// Everything runs on the connection's event loop.
final class TunnelChannel: Channel, ChannelCore, @unchecked Sendable {
    let parent: Channel?
    let eventLoop: EventLoop
    private let connection: Channel
    private let bridge: ChannelHandlerContext
    private let closePromise: EventLoopPromise<Void>
    private var _pipeline: ChannelPipeline!
    private var active = false

    init(connection: Channel, bridge: ChannelHandlerContext) {
        self.connection = connection
        self.parent = connection
        self.bridge = bridge
        self.eventLoop = connection.eventLoop
        self.closePromise = connection.eventLoop.makePromise()
        self._pipeline = ChannelPipeline(channel: self)
    }

    var pipeline: ChannelPipeline { _pipeline }
    var allocator: ByteBufferAllocator { connection.allocator }
    var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    var localAddress: SocketAddress? { connection.localAddress }
    var remoteAddress: SocketAddress? { connection.remoteAddress }
    var isWritable: Bool { connection.isWritable }
    var isActive: Bool { active }
    var _channelCore: ChannelCore { self }
    var syncOptions: NIOSynchronousChannelOptions? { connection.syncOptions }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        connection.setOption(option, value: value)
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        connection.getOption(option)
    }

    /// Registers and activates the tunnel (the connection is already both).
    func activate() {
        eventLoop.preconditionInEventLoop()
        active = true
        pipeline.fireChannelRegistered()
        pipeline.fireChannelActive()
    }

    /// The connection closed: the tunnel closes with it.
    func connectionClosed() {
        guard active else { return }
        active = false
        pipeline.fireChannelInactive()
        pipeline.fireChannelUnregistered()
        closePromise.succeed(())
        eventLoop.execute { self.removeHandlers(pipeline: self.pipeline) }
    }

    // MARK: ChannelCore

    func localAddress0() throws -> SocketAddress {
        guard let address = connection.localAddress else { throw ChannelError.operationUnsupported }
        return address
    }

    func remoteAddress0() throws -> SocketAddress {
        guard let address = connection.remoteAddress else { throw ChannelError.operationUnsupported }
        return address
    }

    func register0(promise: EventLoopPromise<Void>?) { promise?.succeed(()) }
    func registerAlreadyConfigured0(promise: EventLoopPromise<Void>?) { promise?.succeed(()) }
    func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) { promise?.fail(ChannelError.operationUnsupported) }
    func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) { promise?.fail(ChannelError.operationUnsupported) }

    func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard active else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        bridge.write(data, promise: promise)
    }

    func flush0() { if active { bridge.flush() } }
    func read0() { if active { bridge.read() } }

    func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard active else { promise?.fail(ChannelError.alreadyClosed); return }
        bridge.close(mode: mode, promise: promise)
    }

    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        bridge.triggerUserOutboundEvent(NIOAny(event), promise: promise)
    }

    func channelRead0(_ data: NIOAny) {}
    func errorCaught0(error: Error) {}
}

/// First handler of a connection whose bytes belong to a `TunnelChannel` from now on. Reads the
/// HTTP side asks for pass through the tunnel's pipeline (so the tunnel's own back-pressure
/// applies); writes from the HTTP side are refused, since the bytes are no longer HTTP.
final class TunnelBridge: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Any

    private(set) var tunnel: TunnelChannel?

    func handlerAdded(context: ChannelHandlerContext) {
        tunnel = TunnelChannel(connection: context.channel, bridge: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        tunnel?.pipeline.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        tunnel?.pipeline.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        tunnel?.pipeline.fireChannelWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        tunnel?.pipeline.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        tunnel?.pipeline.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        tunnel?.connectionClosed()
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.outputClosed)
    }

    func read(context: ChannelHandlerContext) {
        if let tunnel, tunnel.isActive { tunnel.pipeline.read() } else { context.read() }
    }
}
