import Synchronization

/// Frames for one WebSocket, written by the task that owns its outbound writer.
final class WebSocketLink: Sendable {
    enum Frame: Sendable {
        case text(String), binary([UInt8]), close
        var size: Int {
            switch self {
            case .text(let text): text.utf8.count
            case .binary(let bytes): bytes.count
            case .close: 0
            }
        }
    }
    private let continuation: AsyncStream<Frame>.Continuation
    let frames: AsyncStream<Frame>
    /// Bytes handed to this socket and not yet written (the writer subtracts them).
    let pendingBytes = Atomic<Int>(0)
    /// Frames handed to this socket and not yet written (a `3probe` is 6 bytes; an empty one counts too).
    let pendingFrames = Atomic<Int>(0)
    /// Frames handed to this socket so far.
    let sentFrames = Atomic<Int>(0)
    /// When the writer last handed a frame to the channel (monotonic nanoseconds): the channel
    /// puts it on the wire a moment later, on its own event loop.
    let lastWritten = Atomic<Int64>(0)

    init() { (frames, continuation) = AsyncStream.makeStream(of: Frame.self) }

    func send(_ packets: [EngineIOPacket]) {
        for packet in packets {
            let frame: Frame
            if case .message(.binary(let bytes)) = packet {
                frame = .binary(bytes)
            } else {
                frame = .text(EngineIOCodec.encodeText(packet))
            }
            pendingBytes.add(frame.size, ordering: .relaxed)
            pendingFrames.add(1, ordering: .relaxed)
            sentFrames.add(1, ordering: .relaxed)
            continuation.yield(frame)
        }
    }

    func written(_ frame: Frame) {
        lastWritten.store(EngineIOClock.nanoseconds(), ordering: .relaxed)
        pendingBytes.subtract(frame.size, ordering: .relaxed)
        pendingFrames.subtract(1, ordering: .releasing)
    }

    func close() {
        continuation.yield(.close)
        continuation.finish()
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
        var onMessage: (@Sendable (EngineIOData) -> Void)?
        var onClose: (@Sendable (EngineIOSession.CloseReason) -> Void)?
        var undelivered: [EngineIOData] = []
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

    /// Sets the handlers; messages that arrived before are delivered now, in order.
    public func setHandlers(onMessage: @escaping @Sendable (EngineIOData) -> Void,
                            onClose: @escaping @Sendable (EngineIOSession.CloseReason) -> Void) {
        let pending = inner.withLock { inner -> [EngineIOData] in
            inner.onMessage = onMessage
            inner.onClose = onClose
            defer { inner.undelivered = [] }
            return inner.undelivered
        }
        for data in pending { onMessage(data) }
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
    /// than `timeout` (a client that stopped reading) or the connection closed.
    public func waitForRoom(maxBuffered: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isClosed {
            if bufferedBytes <= maxBuffered { return true }
            if ContinuousClock.now >= deadline { return false }
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
        while ContinuousClock.now < start + limit {
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

    func received(_ packet: EngineIOPacket, on link: WebSocketLink) {
        let now = EngineIOClock.seconds()
        let role = inner.withLock { inner -> Int in inner.socket === link ? 1 : (inner.probe === link ? 2 : 0) }
        switch role {
        case 1: apply { $0.received(webSocket: packet, now: now) }
        case 2:
            apply { $0.received(probe: packet, now: now) } whileLocked: { inner in
                if inner.session.transport == .websocket, inner.socket == nil, inner.probe === link {
                    inner.socket = link
                    inner.probe = nil
                }
            }
        default: break
        }
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
    /// this layer), then performs the resulting effects outside it, in order.
    private func apply(_ transition: (inout EngineIOSession) -> [EngineIOSession.Effect],
                       whileLocked: (inout Inner) -> Void = { _ in }) {
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
                    if let handler = inner.onMessage {
                        work.append { handler(data) }
                    } else {
                        inner.undelivered.append(data)
                    }
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
            return work
        }
        for item in work { item() }
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
