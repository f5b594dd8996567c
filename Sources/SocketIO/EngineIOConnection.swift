import DequeModule
import NIOCore
import NIOWebSocket
import Synchronization

/// Frames for one WebSocket, written straight to its channel: on the channel's event loop at
/// once when the sender is already there (a handler answering a message), otherwise handed to
/// it in order. Frames sent before the session's task has the channel (between the upgrade
/// decision and the `101`) wait and go out first. The close goes through the WebSocket
/// handler's writer, after every frame sent before it, so that its close handshake stays whole.
final class WebSocketLink: Sendable {
    enum Frame: Sendable {
        case text(String), binary([UInt8])
        var size: Int {
            switch self {
            case .text(let text): text.utf8.count
            case .binary(let bytes): bytes.count
            }
        }
    }
    private struct Wire {
        var channel: (any Channel)?
        var early: [Frame] = []
        var closing = false
    }
    private let wire = Mutex(Wire())
    private let closeRequest: AsyncStream<Void>.Continuation
    /// Yields once when the session ends this socket (`close()`).
    let closeRequested: AsyncStream<Void>
    /// Bytes handed to this socket and not yet written to the kernel.
    let pendingBytes = Atomic<Int>(0)
    /// Frames handed to this socket and not yet written (a `3probe` is 6 bytes; an empty one counts too).
    let pendingFrames = Atomic<Int>(0)
    /// Frames handed to this socket so far.
    let sentFrames = Atomic<Int>(0)
    /// When a frame last reached the kernel (monotonic nanoseconds).
    let lastWritten = Atomic<Int64>(0)

    init() { (closeRequested, closeRequest) = AsyncStream.makeStream(of: Void.self) }

    /// The channel that carries this socket's frames; frames sent before go out now.
    func attach(_ channel: any Channel) {
        let early = wire.withLock { wire -> [Frame] in
            wire.channel = channel
            defer { wire.early = [] }
            return wire.early
        }
        if !early.isEmpty { write(early, to: channel) }
    }

    func send(_ packets: [EngineIOPacket]) {
        var frames: [Frame] = []
        frames.reserveCapacity(packets.count)
        for packet in packets {
            let frame: Frame
            if case .message(.binary(let bytes)) = packet {
                frame = .binary(bytes)
            } else {
                frame = .text(EngineIOCodec.encodeText(packet))
            }
            frames.append(frame)
        }
        guard !frames.isEmpty else { return }
        let channel = wire.withLock { wire -> (any Channel)? in
            guard !wire.closing else { return nil }
            pendingBytes.add(frames.reduce(0) { $0 + $1.size }, ordering: .relaxed)
            pendingFrames.add(frames.count, ordering: .relaxed)
            sentFrames.add(frames.count, ordering: .relaxed)
            if wire.channel == nil { wire.early.append(contentsOf: frames) }
            return wire.channel
        }
        if let channel { write(frames, to: channel) }
    }

    /// One promise per batch: a channel completes writes in order (and fails every later one
    /// once one fails), so the last frame's promise accounts for the whole batch.
    private func write(_ frames: [Frame], to channel: any Channel) {
        let size = frames.reduce(0) { $0 + $1.size }, count = frames.count
        let work = { [self] in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in self.written(size: size, frames: count) }
            for (index, frame) in frames.enumerated() {
                let data: ByteBuffer
                let opcode: WebSocketOpcode
                switch frame {
                case .text(let text):
                    data = channel.allocator.buffer(string: text)
                    opcode = .text
                case .binary(let bytes):
                    data = channel.allocator.buffer(bytes: bytes)
                    opcode = .binary
                }
                channel.write(WebSocketFrame(fin: true, opcode: opcode, data: data), promise: index == count - 1 ? promise : nil)
            }
            channel.flush()
        }
        if channel.eventLoop.inEventLoop { work() } else { channel.eventLoop.execute(work) }
    }

    private func written(size: Int, frames: Int) {
        lastWritten.store(EngineIOClock.nanoseconds(), ordering: .relaxed)
        pendingBytes.subtract(size, ordering: .relaxed)
        pendingFrames.subtract(frames, ordering: .releasing)
    }

    /// Ends the socket after what was sent before; later sends are dropped.
    func close() {
        wire.withLock { $0.closing = true }
        closeRequest.yield(())
        closeRequest.finish()
    }
}

/// A live Engine.IO session: the `EngineIOSession` state machine behind a lock, and the I/O its
/// effects call for (answering the waiting GET, writing WebSocket frames, delivering messages).
public final class EngineIOConnection: Sendable {
    struct Inner {
        var session: EngineIOSession
        var pollWaiter: CheckedContinuation<Result<[EngineIOPacket], EngineIOError>, Never>?
        var socket: WebSocketLink?
        var probe: WebSocketLink?
        var onMessage: (@Sendable (EngineIOData) async -> Void)?
        var onClose: (@Sendable (EngineIOSession.CloseReason) -> Void)?
        /// Messages received and not yet handed to `onMessage`, in order.
        var inbox: Deque<EngineIOData> = []
        /// One task at a time hands the inbox to `onMessage` (`drain()`).
        var draining = false
    }

    public let id: String
    /// The handshake request's headers and query, for the upper layer's authorization.
    public let request: HandshakeRequest
    private let inner: Mutex<Inner>
    private let forget: @Sendable (String) -> Void

    init(session: EngineIOSession, request: HandshakeRequest, socket: WebSocketLink?, forget: @escaping @Sendable (String) -> Void) {
        id = session.id
        self.request = request
        self.forget = forget
        inner = Mutex(Inner(session: session, socket: socket))
    }

    // MARK: For the upper layer

    /// Sets the handlers; messages that arrived before are delivered now, in order. Messages
    /// are handed to `onMessage` one at a time, in order: over a WebSocket by the task that reads
    /// the socket (so a handler's answer goes out on the same event loop turn, with no task in
    /// between), over long-polling by a task started for the POST's batch.
    public func setHandlers(onMessage: @escaping @Sendable (EngineIOData) async -> Void,
                            onClose: @escaping @Sendable (EngineIOSession.CloseReason) -> Void) {
        let claimed = inner.withLock { inner -> Bool in
            inner.onMessage = onMessage
            inner.onClose = onClose
            return Self.claimDrain(&inner)
        }
        if claimed { Task { await self.drain() } }
    }

    /// Sends messages together (a Socket.IO packet and its attachments go out in one answer).
    public func send(_ messages: [EngineIOData]) {
        apply { $0.send(messages.map { .message($0) }) }
    }

    public func close() { apply { $0.close(.serverClose) } }
    public func handshakeCompleted() { apply { $0.handshakeCompleted(); return [] } }
    public var isClosed: Bool { inner.withLock { $0.session.isClosed } }

    /// Bytes sent by the upper layer that the client has not taken yet.
    public var bufferedBytes: Int {
        inner.withLock { inner in inner.socket.map { $0.pendingBytes.load(ordering: .relaxed) } ?? inner.session.queuedBytes }
    }

    /// Waits until at most `maxBuffered` bytes wait for the client; false if that takes longer
    /// than `timeout` (a client that stopped reading), the connection closed or the caller was
    /// cancelled (a cancelled sleep returns at once: without the check this loop would spin).
    public func waitForRoom(maxBuffered: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed {
            if bufferedBytes <= maxBuffered { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
    public var transport: EngineIOSession.Transport { inner.withLock { $0.session.transport } }

    /// Waits until what the session gave its WebSockets (a `3probe`, say) has been written, so
    /// that an HTTP answer produced later never overtakes it: one order per session. Bounded:
    /// a WebSocket that does not drain within `limit` no longer holds HTTP answers back.
    /// A probe WebSocket that is open but not yet answered holds HTTP answers back briefly too:
    /// its `2probe` was sent right after the upgrade, before any later HTTP request, and may
    /// still be on its way through another event loop.
    func webSocketsFlushed(limit: Duration = .seconds(2), probeGrace: Duration = .milliseconds(500)) async {
        let start = ContinuousClock.now
        while ContinuousClock.now < start + limit, !Task.isCancelled {
            let (pending, unansweredProbe, lastWritten) = inner.withLock { inner in
                ([inner.socket, inner.probe].reduce(0) { $0 + ($1?.pendingFrames.load(ordering: .acquiring) ?? 0) },
                 inner.probe.map { $0.sentFrames.load(ordering: .acquiring) == 0 } ?? false,
                 [inner.socket, inner.probe].compactMap { $0?.lastWritten.load(ordering: .relaxed) }.max() ?? 0)
            }
            // A frame handed over in the last 2 ms may not be on the wire yet.
            let settling = EngineIOClock.nanoseconds() - lastWritten < 2_000_000
            if pending <= 0, !settling, !(unansweredProbe && ContinuousClock.now < start + probeGrace) { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    // MARK: For the transports

    func poll() async -> Result<[EngineIOPacket], EngineIOError> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<[EngineIOPacket], EngineIOError>, Never>) in
                var immediate: Result<[EngineIOPacket], EngineIOError>?
                let now = EngineIOClock.seconds()
                apply { session in
                    switch session.poll(now: now) {
                    case .answer(let packets):
                        immediate = .success(packets)
                        return []
                    case .reject(let error, let effects):
                        immediate = .failure(error)
                        return effects
                    case .wait:
                        return []
                    }
                } whileLocked: { inner in
                    if immediate == nil { inner.pollWaiter = continuation }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            apply { $0.pollAborted() }
        }
    }

    func beginPost() -> Result<Void, EngineIOError> {
        var result: Result<Void, EngineIOError> = .success(())
        apply { session in
            result = session.beginPost()
            if case .failure(.badRequest) = result, session.transport == .polling, !session.isClosed { return session.overlappingPost() }
            return []
        }
        return result
    }

    func endPost() { apply { $0.endPost(); return [] } }

    func received(posted packets: [EngineIOPacket]) {
        let now = EngineIOClock.seconds()
        apply { $0.received(posted: packets, now: now) }
    }

    func malformed() { apply { $0.malformedPayload() } }
    func tooLarge() { apply { $0.payloadTooLarge() } }

    /// A WebSocket for an existing session: the probe of an upgrade, or refused (false).
    func attachProbe(_ link: WebSocketLink) -> Bool {
        var accepted = false
        apply { session in
            accepted = session.probeConnected()
            return []
        } whileLocked: { inner in
            if accepted { inner.probe = link }
        }
        return accepted
    }

    /// A packet read from a WebSocket; the messages it delivers are handled before this returns
    /// (unless another task is handing over earlier ones), so the socket's reader waits for them.
    func received(_ packet: EngineIOPacket, on link: WebSocketLink) async {
        let now = EngineIOClock.seconds()
        let role = inner.withLock { inner -> Int in inner.socket === link ? 1 : (inner.probe === link ? 2 : 0) }
        let claimed: Bool
        switch role {
        case 1: claimed = apply(deliverInline: true) { $0.received(webSocket: packet, now: now) }
        case 2:
            claimed = apply(deliverInline: true) { $0.received(probe: packet, now: now) } whileLocked: { inner in
                if inner.session.transport == .websocket, inner.socket == nil, inner.probe === link {
                    inner.socket = link
                    inner.probe = nil
                }
            }
        default: claimed = false
        }
        if claimed { await drain() }
    }

    func closed(_ link: WebSocketLink) {
        let role = inner.withLock { inner -> Int in inner.socket === link ? 1 : (inner.probe === link ? 2 : 0) }
        if role == 1 { apply { $0.webSocketClosed() } }
        if role == 2 { apply { session in session.probeClosed(); return [] } whileLocked: { $0.probe = nil } }
    }

    func tick(now: Double) { apply { $0.tick(now: now) } }

    var nextDeadline: Double? { inner.withLock { $0.session.nextDeadline } }

    // MARK: Effects

    /// Runs `transition` on the session under the lock (with `whileLocked` for bookkeeping of
    /// this layer), then performs the resulting effects outside it, in order. Delivered messages
    /// go to the inbox; when nobody hands it over yet, this call claims that: it starts a task
    /// for it, or with `deliverInline` returns true and the caller runs `drain()` itself.
    @discardableResult
    private func apply(deliverInline: Bool = false, _ transition: (inout EngineIOSession) -> [EngineIOSession.Effect],
                       whileLocked: (inout Inner) -> Void = { _ in }) -> Bool {
        var claimed = false
        let work = inner.withLock { inner -> [@Sendable () -> Void] in
            let effects = transition(&inner.session)
            whileLocked(&inner)
            var work: [@Sendable () -> Void] = []
            for effect in effects {
                switch effect {
                case .answerPoll(let packets):
                    if let waiter = inner.pollWaiter {
                        inner.pollWaiter = nil
                        work.append { waiter.resume(returning: .success(packets)) }
                    }
                case .sendOnWebSocket(let packets):
                    if let socket = inner.socket { work.append { socket.send(packets) } }
                case .sendOnProbe(let packet):
                    if let probe = inner.probe { work.append { probe.send([packet]) } }
                case .abortProbe:
                    if let probe = inner.probe {
                        inner.probe = nil
                        work.append { probe.close() }
                    }
                case .deliver(let data):
                    inner.inbox.append(data)
                case .closed(let reason):
                    let socket = inner.socket, probe = inner.probe, onClose = inner.onClose, waiter = inner.pollWaiter
                    inner.socket = nil
                    inner.probe = nil
                    inner.pollWaiter = nil
                    let id = self.id, forget = self.forget
                    work.append {
                        waiter?.resume(returning: .failure(.unknownSession))
                        socket?.close()
                        probe?.close()
                        forget(id)
                        onClose?(reason)
                    }
                }
            }
            claimed = Self.claimDrain(&inner)
            return work
        }
        for item in work { item() }
        if claimed && !deliverInline { Task { await self.drain() } }
        return claimed
    }

    /// Claims the hand-over of the inbox when it has messages, a handler, and nobody doing it.
    private static func claimDrain(_ inner: inout Inner) -> Bool {
        guard !inner.draining, !inner.inbox.isEmpty, inner.onMessage != nil else { return false }
        inner.draining = true
        return true
    }

    /// Hands the inbox to `onMessage`, one message at a time, until it is empty (after a claim).
    private func drain() async {
        while true {
            let next = inner.withLock { inner -> (EngineIOData, @Sendable (EngineIOData) async -> Void)? in
                guard let handler = inner.onMessage, let data = inner.inbox.popFirst() else {
                    inner.draining = false
                    return nil
                }
                return (data, handler)
            }
            guard let (data, handler) = next else { return }
            await handler(data)
        }
    }
}

/// What the upper layer may know of the request that opened a session.
public struct HandshakeRequest: Sendable {
    public let query: [String: String]
    public let headers: [String: String]
    public let remoteAddress: String

    public init(query: [String: String], headers: [String: String], remoteAddress: String) {
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
    }
}
