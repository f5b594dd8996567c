import Synchronization
import JSON

/// Calls a client's acknowledgement callback, once.
public struct SocketIOAck: Sendable {
    let respond: @Sendable ([SocketIOValue]) -> Void
    public func callAsFunction(_ arguments: [SocketIOValue]) { respond(arguments) }
    public func callAsFunction(_ json: JSONValue) { respond([.json(json)]) }
}

/// One client connected to one namespace.
public final class SocketIOSocket: Sendable {
    public typealias EventHandler = @Sendable (_ arguments: [SocketIOValue], _ ack: SocketIOAck?) async -> Void

    struct State {
        var handlers: [String: EventHandler] = [:]
        var disconnectHandlers: [@Sendable (String) -> Void] = []
        var pendingAcks: [Int: @Sendable ([SocketIOValue]) -> Void] = [:]
        var nextAckID = 0
        var rooms: Set<String> = []
        var connected = true
    }

    /// The Socket.IO session id (not the Engine.IO one).
    public let id: String
    public let namespace: SocketIONamespace
    public let handshake: HandshakeRequest
    /// The CONNECT packet's auth payload.
    public let auth: JSONValue?
    /// What the namespace's authorization decided about this client (a principal, say).
    public let context: (any Sendable)?
    public let connection: EngineIOConnection
    private let state = Mutex(State())
    private let spawner: @Sendable (@escaping @Sendable () async -> Void) -> Void

    init(id: String, namespace: SocketIONamespace, handshake: HandshakeRequest, auth: JSONValue?, context: (any Sendable)?,
         connection: EngineIOConnection, spawner: @escaping @Sendable (@escaping @Sendable () async -> Void) -> Void) {
        self.spawner = spawner
        self.id = id
        self.namespace = namespace
        self.handshake = handshake
        self.auth = auth
        self.context = context
        self.connection = connection
    }

    /// Runs long work for this client (a live stream to it) as a child task of the client's
    /// connection, cancelled when the connection ends; event handlers must not block.
    public func spawn(_ work: @escaping @Sendable () async -> Void) { spawner(work) }

    public func on(_ event: String, _ handler: @escaping EventHandler) {
        state.withLock { $0.handlers[event] = handler }
    }

    public func onDisconnect(_ handler: @escaping @Sendable (_ reason: String) -> Void) {
        state.withLock { $0.disconnectHandlers.append(handler) }
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    public func emit(_ event: String, _ arguments: [SocketIOValue] = []) {
        send(SocketIOPacket(.event, namespace: namespace.name, data: .array([.string(event)] + arguments)))
    }

    /// Emits with an acknowledgement: `ack` runs with the client's answer.
    public func emit(_ event: String, _ arguments: [SocketIOValue], ack: @escaping @Sendable ([SocketIOValue]) -> Void) {
        let id = state.withLock { state -> Int in
            defer { state.nextAckID += 1 }
            state.pendingAcks[state.nextAckID] = ack
            return state.nextAckID
        }
        send(SocketIOPacket(.event, namespace: namespace.name, id: id, data: .array([.string(event)] + arguments)))
    }

    public func join(_ room: String) {
        state.withLock { _ = $0.rooms.insert(room) }
        namespace.join(self, room: room)
    }

    public func leave(_ room: String) {
        state.withLock { _ = $0.rooms.remove(room) }
        namespace.leave(self, room: room)
    }

    public var rooms: Set<String> { state.withLock { $0.rooms } }

    /// Leaves the namespace from the server side (the client gets a DISCONNECT).
    public func disconnect() {
        guard markDisconnected(reason: "server namespace disconnect") else { return }
        send(SocketIOPacket(.disconnect, namespace: namespace.name), evenIfDisconnected: true)
    }

    func send(_ packet: SocketIOPacket, evenIfDisconnected: Bool = false) {
        guard evenIfDisconnected || isConnected else { return }
        let (text, attachments) = SocketIOCodec.encode(packet)
        connection.send([.text(text)] + attachments.map { .binary($0) })
    }

    func dispatch(_ packet: SocketIOPacket) async {
        switch packet.kind {
        case .event, .binaryEvent:
            guard case .array(let items)? = packet.data, case .json(.string(let event))? = items.first else { return }
            let handler = state.withLock { $0.handlers[event] }
            var ack: SocketIOAck?
            if let id = packet.id {
                let name = namespace.name
                let answered = Atomic<Bool>(false)
                ack = SocketIOAck { [weak self] arguments in
                    guard let self, !answered.exchange(true, ordering: .relaxed) else { return }
                    self.send(SocketIOPacket(.ack, namespace: name, id: id, data: .array(arguments)))
                }
            }
            await handler?(Array(items.dropFirst()), ack)
        case .ack, .binaryAck:
            guard let id = packet.id, case .array(let arguments)? = packet.data else { return }
            let callback = state.withLock { $0.pendingAcks.removeValue(forKey: id) }
            callback?(arguments)
        default:
            break
        }
    }

    /// Marks the socket gone and runs its disconnect handlers; false when it already was.
    @discardableResult
    func markDisconnected(reason: String) -> Bool {
        let gone = state.withLock { state -> ([@Sendable (String) -> Void], Set<String>)? in
            guard state.connected else { return nil }
            state.connected = false
            defer { state.handlers = [:]; state.pendingAcks = [:]; state.rooms = [] }
            return (state.disconnectHandlers, state.rooms)
        }
        guard let (handlers, rooms) = gone else { return false }
        namespace.remove(self, rooms: rooms)
        for handler in handlers { handler(reason) }
        return true
    }
}
