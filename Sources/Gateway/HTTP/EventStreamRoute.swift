import Hummingbird
import HTTPTypes
import NIOCore
import Synchronization
import ServiceLifecycle
import GatewayCore
import JSON

/// `GET /api/events`: the gateway's events as Server-Sent Events (`text/event-stream`), only
/// those about what the caller may see — the web console's live updates. Authenticated like
/// every API route (a bearer token: a browser reads it with `fetch`, so the token never goes into
/// a URL). What reaches whom:
/// - an event of a camera (`camera.*`, `clip.*`, `recording.*`, `stream.*`): to those who may see
///   the camera now; `camera.deleted` to those who could see it until then; `camera.shared` /
///   `camera.unshared` also to the user they name (who gains or loses the camera);
/// - `video.*` of an upload: its owner and admins; `user.registered` and `config.*`: admins;
///   `user.role_changed`: admins and the user it names.
/// Nothing else (logins, refused commands) goes out. A comment line every 15 s keeps proxies from
/// closing an idle stream; the stream ends when the token it was opened with expires, at shutdown,
/// and when the client falls more than `capacity` events behind (it reconnects and reloads).
struct EventStreamRoute {
    static let capacity = 512
    static let heartbeat: Duration = .seconds(15)

    let events: EventBus
    let access: AccessControl

    enum Item: Sendable {
        case event(GatewayEvent)
        case heartbeat
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/events") { _, context in
            let principal = try context.principal()
            let firstGeneration = access.changes.generation
            let firstVisible = Set(try await access.visibleCameras(principal).map(\.0.id))
            let (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .unbounded)
            let overflow = Overflow(capacity: Self.capacity, continuation: continuation)
            let listener = events.observe { overflow.yield(.event($0)) }
            continuation.onTermination = { [events] _ in events.stopObserving(listener) }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-store"
            headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                var visible = firstVisible, generation = firstGeneration
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // Heartbeats until the token expires; then the stream ends.
                            while !Task.isCancelled {
                                let left = principal.expiresAt.map { $0 - WallClock.now() } ?? .infinity
                                if left <= 0 { break }
                                try? await Task.sleep(for: left < 15 ? .milliseconds(Int64(left * 1000) + 1) : Self.heartbeat)
                                overflow.yield(.heartbeat)
                            }
                            continuation.finish()
                        }
                        try await writer.write(ByteBuffer(string: "retry: 2000\n: camera gateway events\n\n"))
                        for await item in items {
                            overflow.taken()
                            switch item {
                            case .heartbeat:
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                            case .event(let event):
                                let before = visible
                                if access.changes.generation != generation || Self.changesAccess(event, of: principal) {
                                    generation = access.changes.generation
                                    visible = Set((try? await access.visibleCameras(principal).map(\.0.id)) ?? Array(visible))
                                }
                                guard Self.delivers(event, to: principal, visibleBefore: before, visibleNow: visible) else { continue }
                                try await writer.write(Self.encode(event))
                            }
                        }
                        group.cancelAll()
                    }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                try await writer.finish(nil)
            })
        }
    }

    /// An event that can change what the principal may see.
    static func changesAccess(_ event: GatewayEvent, of principal: Principal) -> Bool {
        switch event.name {
        case "camera.shared", "camera.unshared": event.details["username"] == .string(principal.username)
        case "camera.created", "camera.updated": true
        default: false
        }
    }

    static func delivers(_ event: GatewayEvent, to principal: Principal, visibleBefore: Set<String>, visibleNow: Set<String>) -> Bool {
        if let camera = event.camera {
            switch event.name {
            case "camera.deleted": return visibleBefore.contains(camera) || principal.isAdmin
            case "camera.shared", "camera.unshared":
                return event.details["username"] == .string(principal.username) || visibleNow.contains(camera)
            default: return visibleNow.contains(camera)
            }
        }
        switch event.category {
        case "video": return principal.isAdmin || event.actor == principal.username
        case "config": return principal.isAdmin
        case "user":
            if event.name == "user.role_changed" { return principal.isAdmin || event.details["username"] == .string(principal.username) }
            return principal.isAdmin && event.name == "user.registered"
        default: return false
        }
    }

    /// `id: …`, `event: camera.state_changed`, `data: {…}` (the event's JSON, one line).
    static func encode(_ event: GatewayEvent) -> ByteBuffer {
        ByteBuffer(string: "id: \(event.id)\nevent: \(event.name)\ndata: \(JSONWriter.string(event.json))\n\n")
    }

    /// The stream's bound: a client more than `capacity` events behind loses the stream (it
    /// reconnects and reloads what it shows) instead of the gateway queueing for it forever.
    final class Overflow: Sendable {
        let capacity: Int
        let continuation: AsyncStream<Item>.Continuation
        private let pending = Mutex(0)

        init(capacity: Int, continuation: AsyncStream<Item>.Continuation) {
            self.capacity = capacity
            self.continuation = continuation
        }

        func yield(_ item: Item) {
            let count = pending.withLock { count in
                count += 1
                return count
            }
            if count > capacity {
                continuation.finish()
            } else {
                continuation.yield(item)
            }
        }

        /// The reader took one item.
        func taken() { pending.withLock { $0 -= 1 } }
    }
}
