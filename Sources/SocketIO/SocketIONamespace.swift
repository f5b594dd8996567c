import Synchronization
import JSON

/// Why a CONNECT was refused: sent to the client as CONNECT_ERROR `{"message": …}`.
public struct SocketIOConnectError: Error, Sendable {
    public let message: String
    public let data: JSONValue?
    public init(_ message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }
}

/// A Socket.IO namespace: who may join (authorize), what happens when they do, rooms.
public final class SocketIONamespace: Sendable {
    public typealias Authorizer = @Sendable (_ auth: JSONValue?, _ handshake: HandshakeRequest) async -> Result<(any Sendable)?, SocketIOConnectError>
    public typealias ConnectionHandler = @Sendable (SocketIOSocket) async -> Void

    struct State {
        var authorize: Authorizer?
        var onConnection: ConnectionHandler?
        var sockets: [String: SocketIOSocket] = [:]
        var rooms: [String: [String: SocketIOSocket]] = [:]
    }

    public let name: String
    private let state = Mutex(State())

    init(name: String) { self.name = name }

    /// Decides each CONNECT; without one every client is admitted.
    public func authorize(_ authorizer: @escaping Authorizer) { state.withLock { $0.authorize = authorizer } }

    /// Runs for each admitted client, after the CONNECT answer went out.
    public func onConnection(_ handler: @escaping ConnectionHandler) { state.withLock { $0.onConnection = handler } }

    public var sockets: [SocketIOSocket] { state.withLock { Array($0.sockets.values) } }

    public func sockets(in room: String) -> [SocketIOSocket] { state.withLock { Array(($0.rooms[room] ?? [:]).values) } }

    /// Emits to every socket in `room` (each encodes once per send; fan-out is per socket).
    public func emit(to room: String, _ event: String, _ arguments: [SocketIOValue] = []) {
        for socket in sockets(in: room) { socket.emit(event, arguments) }
    }

    public func emit(_ event: String, _ arguments: [SocketIOValue] = []) {
        for socket in sockets { socket.emit(event, arguments) }
    }

    var authorizer: Authorizer? { state.withLock { $0.authorize } }
    var connectionHandler: ConnectionHandler? { state.withLock { $0.onConnection } }

    func add(_ socket: SocketIOSocket) { state.withLock { $0.sockets[socket.id] = socket } }

    func join(_ socket: SocketIOSocket, room: String) {
        state.withLock { $0.rooms[room, default: [:]][socket.id] = socket }
    }

    func leave(_ socket: SocketIOSocket, room: String) {
        state.withLock { state in
            state.rooms[room]?[socket.id] = nil
            if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
        }
    }

    func remove(_ socket: SocketIOSocket, rooms: Set<String>) {
        state.withLock { state in
            state.sockets[socket.id] = nil
            for room in rooms {
                state.rooms[room]?[socket.id] = nil
                if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
            }
        }
    }
}
