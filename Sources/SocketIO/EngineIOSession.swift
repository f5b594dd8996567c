import JSON
/// One Engine.IO v4 session as a value: what arrives (polls, posted packets, WebSocket frames,
/// clock ticks, packets to send) goes in; what the I/O layer must do comes out as `Effect`s.
/// No I/O, no clock of its own: tests drive it with plain values.
public struct EngineIOSession: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Seconds between server pings.
        public var pingInterval: Double = 25
        /// Seconds a pong may take.
        public var pingTimeout: Double = 20
        /// Largest HTTP body or WebSocket message accepted, in bytes.
        public var maxPayload: Int = 1_000_000
        /// Seconds a connection may stay without an upper-layer handshake (Socket.IO CONNECT); nil for none.
        public var handshakeTimeout: Double?
        /// Open sessions at most, in all and from one client address: a handshake costs nothing
        /// to send, so sessions are bounded before anyone is authenticated.
        public var maxSessions: Int
        public var maxSessionsPerAddress: Int

        public init(pingInterval: Double = 25, pingTimeout: Double = 20, maxPayload: Int = 1_000_000, handshakeTimeout: Double? = nil,
                    maxSessions: Int = 10_000, maxSessionsPerAddress: Int = 200) {
            self.pingInterval = pingInterval
            self.pingTimeout = pingTimeout
            self.maxPayload = maxPayload
            self.handshakeTimeout = handshakeTimeout
            self.maxSessions = maxSessions
            self.maxSessionsPerAddress = maxSessionsPerAddress
        }
    }

    public enum Transport: String, Sendable { case polling, websocket }

    public enum CloseReason: String, Sendable, Equatable {
        case clientClose = "client close"
        case serverClose = "server close"
        case pingTimeout = "ping timeout"
        case parseError = "parse error"
        case requestOverlap = "request overlap"
        case pollAborted = "poll aborted"
        case transportClosed = "transport closed"
        case handshakeTimeout = "handshake timeout"
        case payloadTooLarge = "payload too large"
    }

    public enum Effect: Sendable, Equatable {
        /// Complete the waiting GET with these packets.
        case answerPoll([EngineIOPacket])
        /// Write on the active WebSocket.
        case sendOnWebSocket([EngineIOPacket])
        /// Write on the WebSocket that is probing for an upgrade.
        case sendOnProbe(EngineIOPacket)
        /// Close the probing WebSocket; the session goes on over polling.
        case abortProbe
        /// Hand a message to the upper layer.
        case deliver(EngineIOData)
        /// The session is over: forget it, close its sockets, tell the upper layer.
        case closed(CloseReason)
    }

    /// What a GET gets.
    public enum PollOutcome: Sendable, Equatable {
        case answer([EngineIOPacket])
        case wait
        /// Refused with an Engine.IO error; `effects` tell what else happens (a session closed).
        case reject(EngineIOError, effects: [Effect])
    }

    public let id: String
    public let configuration: Configuration
    public private(set) var transport: Transport
    public private(set) var isClosed = false
    private var outbox: [EngineIOPacket] = []
    private var pollWaiting = false
    private var postActive = false
    private enum Upgrade { case none, probeConnected, probed }
    private var upgrade = Upgrade.none
    private var nextPingAt: Double
    private var pongDeadline: Double?
    private var handshakeDeadline: Double?

    public init(id: String, transport: Transport, configuration: Configuration, now: Double) {
        self.id = id
        self.transport = transport
        self.configuration = configuration
        nextPingAt = now + configuration.pingInterval
        handshakeDeadline = configuration.handshakeTimeout.map { now + $0 }
    }

    /// Bytes queued for the next poll.
    public var queuedBytes: Int {
        outbox.reduce(0) { total, packet in
            switch packet {
            case .message(.binary(let bytes)): total + bytes.count
            case .message(.text(let text)): total + text.utf8.count
            default: total + 1
            }
        }
    }

    /// The `open` packet's data.
    public var handshake: String {
        let upgrades: JSONValue = transport == .polling ? .array([.string("websocket")]) : .array([])
        return JSONWriter.string(.object(JSONObject([
            ("sid", .string(id)), ("upgrades", upgrades),
            ("pingInterval", .int(Int((configuration.pingInterval * 1000).rounded()))),
            ("pingTimeout", .int(Int((configuration.pingTimeout * 1000).rounded()))),
            ("maxPayload", .int(configuration.maxPayload)),
        ])))
    }

    // MARK: Polling

    public mutating func poll(now: Double) -> PollOutcome {
        // Timers first: a session whose pong is overdue is gone, whenever the ticker last ran.
        // (With no GET waiting, a tick that does not close only queues a ping: no effects.)
        let expired = isClosed ? [] : tick(now: now)
        guard !isClosed else { return .reject(.unknownSession, effects: expired) }
        guard transport == .polling else { return .reject(.badRequest, effects: []) }
        if pollWaiting {
            // A second GET while one waits: refuse it and close the session (the first gets `1`).
            return .reject(.badRequest, effects: close(.requestOverlap))
        }
        if upgrade == .probed { return .answer([.noop]) }
        if !outbox.isEmpty {
            defer { outbox.removeAll() }
            return .answer(outbox)
        }
        pollWaiting = true
        return .wait
    }

    /// The client went away while its GET waited.
    public mutating func pollAborted() -> [Effect] {
        guard pollWaiting, !isClosed else { return [] }
        pollWaiting = false
        return close(.pollAborted)
    }

    /// A POST begins; a second one at the same time closes the session.
    public mutating func beginPost() -> Result<Void, EngineIOError> {
        guard !isClosed else { return .failure(.unknownSession) }
        guard transport == .polling else { return .failure(.badRequest) }
        guard !postActive else { return .failure(.badRequest) }
        postActive = true
        return .success(())
    }

    public mutating func overlappingPost() -> [Effect] { close(.requestOverlap) }

    public mutating func endPost() { postActive = false }

    /// The packets of a POST body, in order.
    public mutating func received(posted packets: [EngineIOPacket], now: Double) -> [Effect] {
        var effects: [Effect] = []
        for packet in packets where !isClosed {
            switch packet {
            case .message(let data): effects.append(.deliver(data))
            case .pong: pongReceived(now: now)
            case .close: effects += close(.clientClose)
            default: effects += close(.parseError)
            }
        }
        return effects
    }

    public mutating func malformedPayload() -> [Effect] { close(.parseError) }
    public mutating func payloadTooLarge() -> [Effect] { close(.payloadTooLarge) }

    // MARK: WebSocket

    /// A WebSocket arrives for this session; false means it must be closed at once.
    public mutating func probeConnected() -> Bool {
        guard !isClosed, transport == .polling, upgrade == .none else { return false }
        upgrade = .probeConnected
        return true
    }

    public mutating func received(probe packet: EngineIOPacket, now: Double) -> [Effect] {
        guard !isClosed else { return [] }
        switch (packet, upgrade) {
        case (.ping("probe"), .probeConnected):
            upgrade = .probed
            var effects: [Effect] = [.sendOnProbe(.pong("probe"))]
            if pollWaiting {
                pollWaiting = false
                effects.append(.answerPoll([.noop]))
            }
            return effects
        case (.upgrade, .probed):
            transport = .websocket
            upgrade = .none
            var effects: [Effect] = []
            if pollWaiting {
                pollWaiting = false
                effects.append(.answerPoll([.noop]))
            }
            if !outbox.isEmpty {
                effects.append(.sendOnWebSocket(outbox))
                outbox.removeAll()
            }
            return effects
        default:
            upgrade = .none
            return [.abortProbe]
        }
    }

    public mutating func probeClosed() {
        if upgrade != .none { upgrade = .none }
    }

    public mutating func received(webSocket packet: EngineIOPacket, now: Double) -> [Effect] {
        guard !isClosed, transport == .websocket else { return [] }
        switch packet {
        case .message(let data): return [.deliver(data)]
        case .pong: pongReceived(now: now); return []
        case .close: return close(.clientClose)
        default: return close(.parseError)
        }
    }

    public mutating func webSocketClosed() -> [Effect] {
        guard transport == .websocket else { return [] }
        return close(.transportClosed)
    }

    // MARK: Sending, time, closing

    public mutating func send(_ packets: [EngineIOPacket]) -> [Effect] {
        guard !isClosed, !packets.isEmpty else { return [] }
        switch transport {
        case .websocket:
            return [.sendOnWebSocket(packets)]
        case .polling:
            if pollWaiting, upgrade != .probed {
                pollWaiting = false
                let all = outbox + packets
                outbox.removeAll()
                return [.answerPoll(all)]
            }
            outbox += packets
            return []
        }
    }

    /// The upper layer completed its handshake (a Socket.IO CONNECT was accepted).
    public mutating func handshakeCompleted() { handshakeDeadline = nil }

    /// When `tick` next has something to do; nil once closed. Deadlines only move later, so
    /// a timer set for an earlier one fires early and harmlessly.
    public var nextDeadline: Double? {
        guard !isClosed else { return nil }
        let timer = pongDeadline ?? nextPingAt
        return handshakeDeadline.map { min($0, timer) } ?? timer
    }

    public mutating func tick(now: Double) -> [Effect] {
        guard !isClosed else { return [] }
        if let handshakeDeadline, now >= handshakeDeadline { return close(.handshakeTimeout) }
        if let pongDeadline {
            return now >= pongDeadline ? close(.pingTimeout) : []
        }
        guard now >= nextPingAt else { return [] }
        // The pong deadline runs from when the ping was due, whether or not a GET takes it yet.
        pongDeadline = nextPingAt + configuration.pingTimeout
        if now >= pongDeadline! { return close(.pingTimeout) }
        return send([.ping("")])
    }

    private mutating func pongReceived(now: Double) {
        guard pongDeadline != nil else { return }
        pongDeadline = nil
        nextPingAt = now + configuration.pingInterval
    }

    public mutating func close(_ reason: CloseReason) -> [Effect] {
        guard !isClosed else { return [] }
        isClosed = true
        outbox.removeAll()
        var effects: [Effect] = []
        if pollWaiting {
            pollWaiting = false
            effects.append(.answerPoll([reason == .clientClose ? .noop : .close]))
        }
        effects.append(.closed(reason))
        return effects
    }
}

/// The Engine.IO HTTP errors: `{"code": N, "message": "…"}`.
public enum EngineIOError: Int, Error, Sendable, Equatable {
    case unknownTransport = 0
    case unknownSession = 1
    case badHandshakeMethod = 2
    case badRequest = 3
    case forbidden = 4
    case unsupportedProtocolVersion = 5

    public var message: String {
        switch self {
        case .unknownTransport: "Transport unknown"
        case .unknownSession: "Session ID unknown"
        case .badHandshakeMethod: "Bad handshake method"
        case .badRequest: "Bad request"
        case .forbidden: "Forbidden"
        case .unsupportedProtocolVersion: "Unsupported protocol version"
        }
    }

    public var httpStatus: Int { self == .forbidden ? 403 : 400 }
    public var body: String { JSONWriter.string(.object(JSONObject([("code", .int(rawValue)), ("message", .string(message))]))) }
}
