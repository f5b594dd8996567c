import Logging
import ServiceLifecycle
import Synchronization
import JSON

/// Socket.IO v5 on top of an `EngineIOServer`. Each Engine.IO connection becomes a client
/// whose packets are handled in order by a task of this service; namespaces are declared
/// up front (`namespace(_:)`), unknown ones are refused with "Invalid namespace".
public final class SocketIOServer: Service, Sendable {
    public let engine: EngineIOServer
    private let namespaces = Mutex<[String: SocketIONamespace]>([:])
    private let clients: AsyncStream<SocketIOClient>
    private let clientContinuation: AsyncStream<SocketIOClient>.Continuation
    let logger: Logger

    /// `connectTimeout`: seconds a connection may go without joining a namespace.
    public init(path: String = "/socket.io/", configuration: EngineIOSession.Configuration, connectTimeout: Double = 45, logger: Logger) {
        var configuration = configuration
        configuration.handshakeTimeout = connectTimeout
        self.logger = logger
        let (clients, continuation) = AsyncStream.makeStream(of: SocketIOClient.self)
        self.clients = clients
        clientContinuation = continuation
        let box = ServerBox()
        engine = EngineIOServer(path: path, configuration: configuration, logger: logger) { connection in
            box.server?.accept(connection)
        }
        box.server = self
    }

    /// Lets the Engine.IO callback reach this server, which owns the engine.
    private final class ServerBox: @unchecked Sendable {
        weak var server: SocketIOServer?
    }

    public func namespace(_ name: String) -> SocketIONamespace {
        let name = name.hasPrefix("/") ? name : "/" + name
        return namespaces.withLock { namespaces in
            if let existing = namespaces[name] { return existing }
            let namespace = SocketIONamespace(name: name)
            namespaces[name] = namespace
            return namespace
        }
    }

    func lookup(_ name: String) -> SocketIONamespace? { namespaces.withLock { $0[name] } }

    private func accept(_ connection: EngineIOConnection) {
        let client = SocketIOClient(connection: connection, server: self)
        clientContinuation.yield(client)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.engine.run() }
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { clients in
                    for await client in self.clients {
                        clients.addTask { await client.run() }
                    }
                }
            }
        }
    }
}

/// One Engine.IO connection speaking Socket.IO: decodes packets (waiting for binary
/// attachments), and routes them to its namespace sockets in order. The connection hands over
/// one message at a time (`EngineIOConnection.setHandlers`), so `reading` is only ever touched
/// by one task at a time.
final class SocketIOClient: Sendable {
    let connection: EngineIOConnection
    unowned let server: SocketIOServer
    private struct Reading {
        var pending: (packet: SocketIOPacket, expected: Int, attachments: [[UInt8]], bytes: Int)?
        var stopped = false
    }
    private let reading = Mutex(Reading())
    private let sockets = Mutex<[String: SocketIOSocket]>([:])
    private let jobs: AsyncStream<@Sendable () async -> Void>
    private let jobContinuation: AsyncStream<@Sendable () async -> Void>.Continuation

    init(connection: EngineIOConnection, server: SocketIOServer) {
        self.connection = connection
        self.server = server
        (jobs, jobContinuation) = AsyncStream.makeStream(of: (@Sendable () async -> Void).self)
        let jobs = jobContinuation
        connection.setHandlers(onMessage: { [weak self] message in await self?.receive(message) }, onClose: { [weak self] reason in
            jobs.finish()
            self?.closed(reason: reason.rawValue)
        })
    }

    /// Runs spawned work until the connection ends.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs { group.addTask { await job() } }
            group.cancelAll()
        }
    }

    /// Before any namespace has accepted the client, only a CONNECT (a token, a few fields) makes
    /// sense: larger messages and binary packets are refused unparsed.
    static let unauthenticatedMessageBytes = 16 * 1024
    /// Binary attachments one packet may announce.
    static let maximumAttachments = 16

    private var isAuthenticated: Bool { sockets.withLock { !$0.isEmpty } }

    /// One Engine.IO message: a packet, or one of the binary attachments a packet announced.
    /// A malformed one closes the connection, and nothing after it is read.
    private func receive(_ message: EngineIOData) async {
        let decoded: Result<SocketIOPacket?, SocketIOParseError> = reading.withLock { reading in
            guard !reading.stopped else { return .success(nil) }
            do {
                switch message {
                case .text(let text):
                    guard reading.pending == nil else { throw SocketIOParseError(reason: "text while waiting for attachments") }
                    if !isAuthenticated, text.utf8.count > Self.unauthenticatedMessageBytes || !text.hasPrefix("0") {
                        throw SocketIOParseError(reason: "only a CONNECT may come before authentication")
                    }
                    let (packet, attachments) = try SocketIOCodec.decode(text)
                    guard attachments <= Self.maximumAttachments else {
                        throw SocketIOParseError(reason: "more than \(Self.maximumAttachments) attachments")
                    }
                    if attachments > 0 {
                        reading.pending = (packet, attachments, [], 0)
                        return .success(nil)
                    }
                    return .success(packet)
                case .binary(let bytes):
                    guard var waiting = reading.pending else { throw SocketIOParseError(reason: "unexpected binary attachment") }
                    waiting.bytes += bytes.count
                    guard waiting.bytes <= server.engine.configuration.maxPayload else {
                        throw SocketIOParseError(reason: "attachments larger than the payload limit")
                    }
                    waiting.attachments.append(bytes)
                    guard waiting.attachments.count == waiting.expected else {
                        reading.pending = waiting
                        return .success(nil)
                    }
                    reading.pending = nil
                    var packet = waiting.packet
                    if let data = packet.data { packet.data = try SocketIOCodec.reconstruct(data, attachments: waiting.attachments) }
                    return .success(packet)
                }
            } catch {
                reading.stopped = true
                return .failure(error as? SocketIOParseError ?? SocketIOParseError(reason: "\(error)"))
            }
        }
        switch decoded {
        case .success(let packet?): await handle(packet)
        case .success(nil): break
        case .failure(let error):
            server.logger.debug("closing a Socket.IO connection on a malformed packet", metadata: ["error": "\(error)"])
            connection.close()
        }
    }

    private func handle(_ packet: SocketIOPacket) async {
        switch packet.kind {
        case .connect:
            await connect(packet)
        case .disconnect:
            let socket = sockets.withLock { $0.removeValue(forKey: packet.namespace) }
            socket?.markDisconnected(reason: "client namespace disconnect")
        case .event, .binaryEvent, .ack, .binaryAck:
            guard let socket = sockets.withLock({ $0[packet.namespace] }) else {
                // Packets for a namespace the client has not joined break the protocol.
                connection.close()
                return
            }
            await socket.dispatch(packet)
        case .connectError:
            connection.close()
        }
    }

    private func connect(_ packet: SocketIOPacket) async {
        let name = packet.namespace
        guard let namespace = server.lookup(name) else {
            send(SocketIOPacket(.connectError, namespace: name, data: .json(.object(JSONObject([("message", .string("Invalid namespace"))])))))
            return
        }
        guard sockets.withLock({ $0[name] }) == nil else { return }
        let auth = packet.data?.plainJSON
        var context: (any Sendable)?
        if let authorize = namespace.authorizer {
            switch await authorize(auth, connection.request) {
            case .success(let value): context = value
            case .failure(let error):
                var body = JSONObject([("message", .string(error.message))])
                if let data = error.data { body["data"] = data }
                send(SocketIOPacket(.connectError, namespace: name, data: .json(.object(body))))
                return
            }
        }
        let jobs = jobContinuation
        let socket = SocketIOSocket(id: EngineIOServer.sessionID(), namespace: namespace, handshake: connection.request,
                                    auth: auth, context: context, connection: connection) { jobs.yield($0) }
        sockets.withLock { $0[name] = socket }
        namespace.add(socket)
        connection.handshakeCompleted()
        send(SocketIOPacket(.connect, namespace: name, data: .json(.object(JSONObject([("sid", .string(socket.id))])))))
        await namespace.connectionHandler?(socket)
    }

    private func send(_ packet: SocketIOPacket) {
        let (text, attachments) = SocketIOCodec.encode(packet)
        connection.send([.text(text)] + attachments.map { .binary($0) })
    }

    private func closed(reason: String) {
        let all = sockets.withLock { sockets -> [SocketIOSocket] in
            defer { sockets = [:] }
            return Array(sockets.values)
        }
        for socket in all { socket.markDisconnected(reason: reason) }
    }
}
