import DequeModule
import HeapModule
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Engine.IO v4 over HTTP long-polling and WebSocket at one path (`/socket.io/`). Sessions
/// are `EngineIOConnection`s; `onConnection` hands each new one to the upper layer (Socket.IO).
/// Runs as a service: its ticker drives every session's heartbeat, waking each session only
/// at its own next deadline (a heap of timers, not a scan of every session).
public final class EngineIOServer: Service, Sendable {
    public let path: String
    public let configuration: EngineIOSession.Configuration
    private let registry = Mutex(Registry())
    private let onConnection: @Sendable (EngineIOConnection) -> Void
    private let logger: Logger
    /// Wakes the heartbeat ticker when a session appears (it sleeps while there is none).
    private let arrivals: AsyncStream<Void>
    private let arrival: AsyncStream<Void>.Continuation

    public init(path: String = "/socket.io/", configuration: EngineIOSession.Configuration, logger: Logger,
                onConnection: @escaping @Sendable (EngineIOConnection) -> Void) {
        self.path = path.hasSuffix("/") ? path : path + "/"
        self.configuration = configuration
        self.logger = logger
        self.onConnection = onConnection
        (arrivals, arrival) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var sessionCount: Int { registry.withLock { $0.sessions.count } }

    /// Open sessions, how many each client address holds, and when each must next be ticked.
    struct Registry {
        var sessions: [String: EngineIOConnection] = [:]
        var perAddress: [String: Int] = [:]
        var timers = Heap<Timer>()
        /// When recently closed sessions closed (monotonic nanoseconds), for polls that arrived
        /// before the close but reached the lookup after it: the last 10 s, at most 10,000, the
        /// oldest forgotten first (`closedOrder` holds them in the order they closed).
        var closedAt: [String: Int64] = [:]
        var closedOrder = Deque<(id: String, at: Int64)>()
        static let closedMemory: Int64 = 10_000_000_000
        static let closedMemoryCount = 10_000

        mutating func remove(_ id: String) {
            guard let connection = sessions.removeValue(forKey: id) else { return }
            let now = EngineIOClock.nanoseconds()
            while let oldest = closedOrder.first, closedOrder.count >= Self.closedMemoryCount || now - oldest.at >= Self.closedMemory {
                closedOrder.removeFirst()
                closedAt[oldest.id] = nil
            }
            closedAt[id] = now
            closedOrder.append((id, now))
            let address = connection.request.remoteAddress
            let left = (perAddress[address] ?? 1) - 1
            perAddress[address] = left > 0 ? left : nil
        }
    }

    struct Timer: Comparable {
        let due: Double
        let id: String
        static func < (lhs: Timer, rhs: Timer) -> Bool { lhs.due < rhs.due }
        static func == (lhs: Timer, rhs: Timer) -> Bool { lhs.due == rhs.due && lhs.id == rhs.id }
    }

    /// A new session, or nil when the caps on sessions (in all, or from this address) are reached.
    private func newSession(transport: EngineIOSession.Transport, request: HandshakeRequest, socket: WebSocketLink?) -> EngineIOConnection? {
        let session = EngineIOSession(id: Self.sessionID(), transport: transport, configuration: configuration, now: EngineIOClock.seconds())
        let connection = EngineIOConnection(session: session, request: request, socket: socket) { [weak self] id in
            self?.registry.withLock { $0.remove(id) }
        }
        let admitted = registry.withLock { registry -> Bool in
            let address = request.remoteAddress
            guard registry.sessions.count < configuration.maxSessions,
                  registry.perAddress[address, default: 0] < configuration.maxSessionsPerAddress else { return false }
            registry.sessions[connection.id] = connection
            registry.perAddress[address, default: 0] += 1
            if let due = session.nextDeadline { registry.timers.insert(Timer(due: due, id: connection.id)) }
            return true
        }
        guard admitted else {
            logger.warning("Engine.IO session refused: too many sessions", metadata: ["address": "\(request.remoteAddress)"])
            return nil
        }
        arrival.yield()
        return connection
    }

    /// 120 random bits as 30 hex digits.
    static func sessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(30)
        for _ in 0..<15 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: HTTP long-polling

    /// Registers the long-polling methods at `path` (add PUT, … to have them answered with the
    /// Engine.IO error rather than the router's 404).
    /// `arrival` tells when the request's head reached the server (`RequestArrival`), when known.
    public func register<Context: RequestContext>(on router: Router<Context>, methods: [HTTPRequest.Method] = [.get, .post],
                                                  remoteAddress: @escaping @Sendable (Context) -> String,
                                                  arrival: @escaping @Sendable (Context) async -> Int64? = { _ in nil }) {
        for method in methods {
            router.on(RouterPath(path), method: method) { request, context in
                await self.handle(request, remoteAddress: remoteAddress(context)) { await arrival(context) }
            }
        }
    }

    package static func query(of uri: URI) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in uri.queryParameters { result[String(key)] = String(value) }
        return result
    }

    func handle(_ request: Request, remoteAddress: String, arrival: @Sendable () async -> Int64? = { nil }) async -> Response {
        let query = Self.query(of: request.uri)
        guard let transport = query["transport"], transport == "polling" || transport == "websocket" else {
            return Self.error(.unknownTransport)
        }
        guard query["EIO"] == "4" else { return Self.error(.unsupportedProtocolVersion) }
        guard transport == "polling" else { return Self.error(.badRequest) }
        guard let sid = query["sid"] else {
            guard request.method == .get else { return Self.error(.badHandshakeMethod) }
            let headers = Dictionary(request.headers.map { ($0.name.canonicalName, $0.value) }, uniquingKeysWith: { first, _ in first })
            guard let connection = newSession(transport: .polling, request: HandshakeRequest(query: query, headers: headers, remoteAddress: remoteAddress),
                                              socket: nil) else {
                return Self.tooManySessions()
            }
            let handshake = handshake(of: connection)
            onConnection(connection)
            return Self.text(EngineIOCodec.encodeText(.open(handshake)))
        }
        guard let connection = registry.withLock({ $0.sessions[sid] }) else {
            // A long-poll whose head arrived before the session closed, but whose lookup came
            // after (requests on different connections race to it), settles as if it had been
            // waiting: the close answers it. One that arrived after the close is an unknown session.
            if request.method == .get, let closed = registry.withLock({ $0.closedAt[sid] }), let arrived = await arrival(), arrived > 0,
               arrived < closed {
                return Self.text(EngineIOCodec.encodePayload([.noop]))
            }
            return Self.error(.unknownSession)
        }
        switch request.method {
        case .get:
            // A waiting long-poll ends with the server: the session closes and the GET gets `1`.
            let outcome = await withGracefulShutdownHandler {
                await connection.poll()
            } onGracefulShutdown: {
                connection.close()
            }
            // Whatever this session gave its WebSocket before (a `3probe`) goes out before this answer.
            await connection.webSocketsFlushed()
            switch outcome {
            case .success(let packets): return Self.text(EngineIOCodec.encodePayload(packets))
            case .failure(let error): return Self.error(error)
            }
        case .post:
            if case .failure(let error) = connection.beginPost() { return Self.error(error) }
            defer { connection.endPost() }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: configuration.maxPayload)
            } catch {
                connection.tooLarge()
                return Response(status: .contentTooLarge)
            }
            guard let text = body.getString(at: body.readerIndex, length: body.readableBytes),
                  let packets = try? EngineIOCodec.decodePayload(text) else {
                connection.malformed()
                return Self.error(.badRequest)
            }
            if packets.contains(.close) { await Self.readWhatHasArrived() }
            connection.received(posted: packets)
            await connection.webSocketsFlushed()
            var headers = HTTPFields()
            headers[.contentType] = "text/html"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "ok")))
        default:
            return Self.error(.badRequest)
        }
    }

    private func handshake(of connection: EngineIOConnection) -> String {
        EngineIOSession(id: connection.id, transport: connection.transport, configuration: configuration, now: 0).handshake
    }

    static func text(_ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=UTF-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func tooManySessions() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.retryAfter] = "5"
        return Response(status: .serviceUnavailable, headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: #"{"code":4,"message":"Too many sessions"}"#)))
    }

    /// Before a close takes effect: every event loop reads what is already waiting in its
    /// sockets. A long-poll the client sent before its close, sitting unread on another
    /// connection's loop, is then stamped by `RequestArrival` before the close, and settles with
    /// it instead of finding the session unknown. A round is an I/O barrier (`EventLoopIOBarrier`),
    /// not a submitted task: a busy loop runs every queued task, and what they queue, before it
    /// polls again. Ten rounds, because a connection the kernel holds still has to be accepted,
    /// handed to the server's task, set up on its own loop and read, each a hop between loops:
    /// with both cores busy, three rounds left 4–7 polls in 400 unread, ten left 0 in 1,200.
    /// Costs ten loopback datagrams per loop per polling close (a WebSocket close skips this).
    static func readWhatHasArrived(_ group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async {
        for _ in 0..<10 { await EventLoopIOBarrier.shared.polled(every: group) }
    }

    static func error(_ error: EngineIOError) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: error.httpStatus), headers: headers, body: .init(byteBuffer: ByteBuffer(string: error.body)))
    }

    // MARK: WebSocket

    /// The WebSocket handler for an upgrade request at `path`, or nil to let the router answer
    /// (with the Engine.IO error) instead.
    public func webSocketSession(for request: HTTPRequest, remoteAddress: String) -> WebSocketSession? {
        let uri = URI(request.path ?? "")
        guard uri.path == path || uri.path + "/" == path else { return nil }
        let query = Self.query(of: uri)
        guard query["transport"] == "websocket", query["EIO"] == "4" else { return nil }
        let existing: EngineIOConnection?
        if let sid = query["sid"] {
            guard let connection = registry.withLock({ $0.sessions[sid] }) else { return nil }
            existing = connection
        } else {
            existing = nil
        }
        let headers = Dictionary(request.headerFields.map { ($0.name.canonicalName, $0.value) }, uniquingKeysWith: { first, _ in first })
        let handshake = HandshakeRequest(query: query, headers: headers, remoteAddress: remoteAddress)
        // The probe is attached before the 101 goes out, so that an HTTP request the client sends
        // after the upgrade already finds it (and waits for its `3probe`).
        let link = WebSocketLink()
        let attached = existing?.attachProbe(link) ?? false
        return { inbound, outbound, channel in
            try await self.serve(inbound: inbound, outbound: outbound, channel: channel, existing: existing, attached: attached,
                                 link: link, request: handshake)
        }
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel, existing: EngineIOConnection?,
                       attached: Bool, link: WebSocketLink, request: HandshakeRequest) async throws {
        let connection: EngineIOConnection
        if let existing {
            guard attached else {
                try await outbound.close(.normalClosure, reason: nil)
                return
            }
            connection = existing
        } else {
            guard let created = newSession(transport: .websocket, request: request, socket: link) else {
                try await outbound.close(.unexpectedServerError, reason: "too many sessions")
                return
            }
            connection = created
            link.send([.open(handshake(of: connection))])
            onConnection(connection)
        }
        link.attach(channel)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in link.closeRequested { break }
                try? await outbound.close(.normalClosure, reason: nil)
            }
            do {
                for try await message in inbound.messages(maxSize: configuration.maxPayload) {
                    switch message {
                    case .text(let text):
                        guard let packet = try? EngineIOCodec.decodeText(Substring(text)) else {
                            connection.malformed()
                            break
                        }
                        await connection.received(packet, on: link)
                    case .binary(let buffer):
                        await connection.received(.message(.binary(Array(buffer.readableBytesView))), on: link)
                    }
                }
            } catch {
                connection.tooLarge()
            }
            connection.closed(link)
            link.close()
            try await group.waitForAll()
        }
    }

    // MARK: Heartbeat

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var arrivals = self.arrivals.makeAsyncIterator()
            while !Task.isCancelled {
                let now = EngineIOClock.seconds()
                let (due, isIdle) = self.registry.withLock { registry -> ([EngineIOConnection], Bool) in
                    var due: [EngineIOConnection] = []
                    while let first = registry.timers.min, first.due <= now {
                        _ = registry.timers.popMin()
                        if let connection = registry.sessions[first.id] { due.append(connection) }
                    }
                    return (due, registry.sessions.isEmpty)
                }
                for connection in due {
                    connection.tick(now: now)
                    if let next = connection.nextDeadline {
                        self.registry.withLock { $0.timers.insert(Timer(due: next, id: connection.id)) }
                    }
                }
                if isIdle {
                    // Idle: no timer until a session appears.
                    self.registry.withLock { $0.timers = Heap() }
                    guard await arrivals.next() != nil else { return }
                    continue
                }
                // 20 ms is the heartbeat's precision; a wake costs only the timers that are due.
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        for connection in registry.withLock({ Array($0.sessions.values) }) { connection.close() }
    }
}

/// The monotonic clock of sessions and heartbeats (CLOCK_MONOTONIC, through NIO).
enum EngineIOClock {
    static func nanoseconds() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }
    static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}
