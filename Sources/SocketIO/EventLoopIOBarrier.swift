import NIOCore
import NIOPosix
import Synchronization

/// Waits until an event loop has polled its sockets at least once after the call: what had
/// arrived in the kernel for that loop's channels by then has been read.
///
/// A task submitted to a loop does not give that: a loop runs every task that is queued — and
/// every task those tasks queue — before it polls again, and with Swift tasks on the loops
/// (`SwiftConcurrencyOnEventLoops`) a busy loop can go on running tasks for a long while. So the
/// barrier is an I/O event of its own: a datagram the loop sends to itself on loopback, which
/// it can only read in the I/O phase of a later wake-up. One UDP socket per loop, made on first
/// use; where one cannot be bound, a timer of a millisecond stands in (it mostly waits through a poll).
public final class EventLoopIOBarrier: Sendable {
    public static let shared = EventLoopIOBarrier()

    private let channels = Mutex<[ObjectIdentifier: EventLoopFuture<any Channel>]>([:])

    public init() {}

    /// Returns once `loop` has polled for I/O after this call.
    public func polled(_ loop: any EventLoop) async {
        let future = channels.withLock { channels in
            if let existing = channels[ObjectIdentifier(loop)] { return existing }
            let made = DatagramBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(BarrierHandler()) }
                }
                .bind(host: "127.0.0.1", port: 0)
            channels[ObjectIdentifier(loop)] = made
            return made
        }
        guard let channel = try? await future.get() else {
            try? await loop.scheduleTask(in: .milliseconds(1)) {}.futureResult.get()
            return
        }
        let promise = loop.makePromise(of: Void.self)
        channel.pipeline.fireUserInboundEventTriggered(BarrierRequest(promise: promise))
        try? await promise.futureResult.get()
    }

    /// Every loop of `group` has polled for I/O after this call.
    public func polled(every group: any EventLoopGroup) async {
        await withTaskGroup(of: Void.self) { tasks in
            for loop in group.makeIterator() {
                tasks.addTask { await self.polled(loop) }
            }
        }
    }
}

private struct BarrierRequest: Sendable {
    let promise: EventLoopPromise<Void>
}

/// Lives on its loop. Each request sends one datagram to the socket itself; any datagram read
/// completes every request made before it (reading it means the loop polled after they were
/// made, since requests are taken on the loop).
private final class BarrierHandler: ChannelDuplexHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private var waiting: [EventLoopPromise<Void>] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let request = event as? BarrierRequest else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard let address = context.channel.localAddress else {
            request.promise.succeed()
            return
        }
        waiting.append(request.promise)
        var byte = context.channel.allocator.buffer(capacity: 1)
        byte.writeInteger(UInt8(1))
        let sent = context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.whenFailure { [self] _ in releaseAll() }
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: byte)), promise: sent)
    }

    private func releaseAll() {
        let done = waiting
        waiting.removeAll(keepingCapacity: true)
        for promise in done { promise.succeed() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        releaseAll()
    }

    /// A datagram that cannot be sent must not leave anyone waiting: they go on as if polled.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        releaseAll()
    }
}
