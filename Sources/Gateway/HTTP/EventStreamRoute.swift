import Hummingbird
import HTTPTypes
import NIOCore
import ServiceLifecycle
import Synchronization
import GatewayCore
import JSON

/// `GET /api/events`: the gateway's events as Server-Sent Events (`text/event-stream`), only
/// those about what the caller may see — the web console's live updates. Authenticated like
/// every API route (a bearer token: a browser reads it with `fetch`, so the token never goes into
/// a URL). What reaches whom (`delivers`), from a list of event names (`cameraEvents`,
/// `accountEvents`; nothing else goes out — no logins, refused commands, or who watched what):
/// - an event of a camera: to those who may see the camera now; `camera.deleted` to those who
///   could see it until then; `camera.shared` / `camera.unshared` to the camera's managers
///   (owner, admins) and to the user they name (who gains or loses the camera);
///   `camera.state_changed` loses its `reason` (the admins' wording) for everyone but admins;
/// - `video.*` of an upload: its owner and admins; `user.registered` and `config.*`: admins;
///   `user.role_changed`: admins and the user it names.
/// What the caller may see is read again when an access decision may have changed
/// (`AccessChanges`, a share naming the caller, a camera created or changed), and at most a
/// second before an event goes out (grants expire by the clock); the caller's role is read again
/// too (a demoted admin stops seeing everything). A storage error then ends the stream (the
/// client reconnects) rather than guessing. A comment line every 15 s keeps proxies from closing
/// an idle stream; the stream ends when the token it was opened with expires, at shutdown, and
/// when the client falls more than `capacity` events behind (it reconnects and reloads).
/// At most `streamsPerUser` streams per user (admins exempt), `streams` in all.
struct EventStreamRoute {
    static let capacity = 512
    static let heartbeat: Duration = .seconds(15)
    static let streams = WorkSlots(total: 4096, perUser: 16)

    static let cameraEvents: Set<String> = [
        "camera.created", "camera.updated", "camera.deleted", "camera.shared", "camera.unshared", "camera.state_changed",
        "clip.triggered", "clip.ready", "clip.failed",
        "recording.started", "recording.stopped", "recording.segment_closed", "recording.failed",
        "stream.started", "stream.stopped",
    ]
    static let accountEvents: Set<String> = [
        "video.uploaded", "video.progress", "video.ready", "video.failed", "video.deleted",
        "user.registered", "user.role_changed", "config.reloaded", "config.reload_failed",
    ]

    let events: EventBus
    let access: AccessControl

    enum Item: Sendable {
        case event(GatewayEvent)
        case heartbeat
    }

    /// What the caller may see, as last read.
    struct View: Sendable {
        var principal: Principal
        var roles: [String: CameraRole]
        var generation: Int
        var readAt: Double
        /// Cameras the caller could see that were deleted in the last minute, for their `camera.deleted`.
        var gone: [String: Double] = [:]
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/events") { _, context in
            let principal = try context.principal()
            let slot = try Self.streams.acquire(for: principal, what: "event streams")
            let first = try await read(principal)
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-store"
            headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { slot.release() }
                let (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .unbounded)
                let bound = Bound(capacity: Self.capacity, continuation: continuation)
                let listener = events.observe { bound.yield(.event($0)) }
                defer { events.stopObserving(listener) }
                var view = first
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // Heartbeats until the token expires; then the stream ends.
                            while !Task.isCancelled {
                                let left = principal.expiresAt.map { $0 - WallClock.now() } ?? .infinity
                                if left <= 0 { break }
                                try? await Task.sleep(for: left < 15 ? .milliseconds(Int64(left * 1000) + 1) : Self.heartbeat)
                                bound.yield(.heartbeat)
                            }
                            continuation.finish()
                        }
                        try await writer.write(ByteBuffer(string: "retry: 2000\n: camera gateway events\n\n"))
                        reading: for await item in items {
                            if bound.overflowed { break reading }
                            bound.taken()
                            switch item {
                            case .heartbeat:
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                            case .event(let event):
                                guard Self.cameraEvents.contains(event.name) || Self.accountEvents.contains(event.name) else { continue }
                                if Self.mustReread(view, for: event, generation: access.changes.generation, now: WallClock.now(),
                                                   interval: access.recheckInterval) {
                                    guard let fresh = try? await read(view.principal, after: view) else { break reading }
                                    view = fresh
                                }
                                guard let shown = Self.shown(event, in: view) else { continue }
                                try await writer.write(Self.encode(shown))
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

    /// The principal with its current role, and what it may see; nil when the user is gone.
    func read(_ principal: Principal, after previous: View? = nil) async throws -> View {
        let generation = access.changes.generation
        guard let user = try await access.storage.user(id: principal.userID) else { throw GatewayError(.invalidToken, "the user no longer exists") }
        let current = Principal(userID: principal.userID, username: principal.username, role: user.role, expiresAt: principal.expiresAt)
        let cameras = try await access.cameraViews(current)
        let roles = Dictionary(cameras.visible.map { ($0.0.id, $0.1) }, uniquingKeysWith: { first, _ in first })
        let now = WallClock.now()
        // Deleted (not merely hidden from the caller) since the last read: its `camera.deleted`
        // may still be queued.
        var gone = (previous?.gone ?? [:]).filter { now - $0.value < 60 }
        for id in (previous?.roles.keys).map(Array.init) ?? [] where roles[id] == nil && !cameras.all.contains(id) { gone[id] = now }
        return View(principal: current, roles: roles, generation: generation, readAt: now, gone: gone)
    }

    /// Whether what the caller may see must be read again before `event` goes out.
    static func mustReread(_ view: View, for event: GatewayEvent, generation: Int, now: Double, interval: Duration) -> Bool {
        if generation != view.generation || now - view.readAt >= Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18 {
            return true
        }
        switch event.name {
        case "camera.shared", "camera.unshared", "user.role_changed": return event.details["username"] == .string(view.principal.username)
        case "camera.created", "camera.updated": return true
        default: return false
        }
    }

    /// The event as the caller may see it, or nil when it is not theirs to see.
    static func shown(_ event: GatewayEvent, in view: View) -> GatewayEvent? {
        let principal = view.principal
        if let camera = event.camera, cameraEvents.contains(event.name) {
            let role = view.roles[camera]
            switch event.name {
            case "camera.deleted":
                guard role != nil || view.gone[camera] != nil || principal.isAdmin else { return nil }
            case "camera.shared", "camera.unshared":
                guard event.details["username"] == .string(principal.username) || (role ?? .viewer) >= .owner else { return nil }
            default:
                guard role != nil else { return nil }
            }
            guard event.name == "camera.state_changed", !principal.isAdmin else { return event }
            var details = event.details
            details["reason"] = nil
            return GatewayEvent(name: event.name, actor: event.actor, camera: event.camera, details: details, time: event.time, id: event.id)
        }
        guard accountEvents.contains(event.name) else { return nil }
        switch event.category {
        case "video": return principal.isAdmin || event.actor == principal.username ? event : nil
        case "config": return principal.isAdmin ? event : nil
        case "user":
            if event.name == "user.role_changed", event.details["username"] == .string(principal.username) { return event }
            return principal.isAdmin ? event : nil
        default: return nil
        }
    }

    /// `id: …`, `event: camera.state_changed`, `data: {…}` (the event's JSON, one line).
    static func encode(_ event: GatewayEvent) -> ByteBuffer {
        ByteBuffer(string: "id: \(event.id)\nevent: \(event.name)\ndata: \(JSONWriter.string(event.json))\n\n")
    }

    /// The stream's bound: a client more than `capacity` events behind loses the stream (it
    /// reconnects and reloads what it shows) instead of the gateway queueing for it forever.
    final class Bound: Sendable {
        let capacity: Int
        let continuation: AsyncStream<Item>.Continuation
        private let pending = Mutex(0)
        private let exceeded = Atomic(false)

        init(capacity: Int, continuation: AsyncStream<Item>.Continuation) {
            self.capacity = capacity
            self.continuation = continuation
        }

        var overflowed: Bool { exceeded.load(ordering: .relaxed) }

        func yield(_ item: Item) {
            let count = pending.withLock { count in
                count += 1
                return count
            }
            if count > capacity {
                exceeded.store(true, ordering: .relaxed)
                continuation.finish()
            } else {
                continuation.yield(item)
            }
        }

        /// The reader took one item.
        func taken() { pending.withLock { $0 -= 1 } }
    }
}
