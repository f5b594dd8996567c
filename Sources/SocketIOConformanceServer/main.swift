import SocketIO
import Hummingbird
import Logging
import JSON

// Serves exactly what the official test suites expect (socketio/engine.io-protocol and
// socketio/socket.io-protocol, folder test-suite/): 127.0.0.1:3000, pingInterval 300 ms,
// pingTimeout 200 ms, maxPayload 1e6, CORS *, an Engine.IO echo server at /engine.io/ and a
// Socket.IO server at /socket.io/ with namespaces / and /custom (connectTimeout 1000 ms).

SwiftConcurrencyOnEventLoops.install()
var logger = Logger(label: "socketio-conformance")
logger.logLevel = .notice
let configuration = EngineIOSession.Configuration(pingInterval: 0.3, pingTimeout: 0.2, maxPayload: 1_000_000)

let echo = EngineIOServer(path: "/engine.io/", configuration: configuration, logger: logger) { connection in
    connection.setHandlers(onMessage: { connection.send([$0]) }, onClose: { _ in })
}

let socketIO = SocketIOServer(path: "/socket.io/", configuration: configuration, connectTimeout: 1.0, logger: logger)
let main = socketIO.namespace("/")
main.onConnection { socket in
    socket.emit("auth", [.json(socket.auth ?? .object(JSONObject()))])
    socket.on("message") { arguments, _ in socket.emit("message-back", arguments) }
    socket.on("message-with-ack") { arguments, ack in ack?(arguments) }
    // Server-to-client acknowledgement (beyond the official suites): ask the client to ack the
    // same arguments, then emit what it answered.
    socket.on("emit-with-ack") { arguments, _ in
        socket.emit("emit-with-ack", arguments) { answer in socket.emit("emit-with-ack", answer) }
    }
}
socketIO.namespace("/custom").onConnection { socket in
    socket.emit("auth", [.json(socket.auth ?? .object(JSONObject()))])
}

let router = Router()
router.middlewares.add(OriginListCORSMiddleware(origins: ["*"]))
let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
echo.register(on: router, methods: methods) { _ in "127.0.0.1" }
socketIO.engine.register(on: router, methods: methods) { _ in "127.0.0.1" }
let app = Application(
    router: router,
    server: .engineIO([echo, socketIO.engine]),
    configuration: .init(address: .hostname("127.0.0.1", port: 3000), serverName: "socketio-conformance-server"),
    services: [echo, socketIO],
    logger: logger)
try await app.runService()
