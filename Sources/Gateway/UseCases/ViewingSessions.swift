import GatewayCore
import JSON
import ServiceLifecycle
import Synchronization

/// "Who watched what, for how long": a viewing session emits a start event when it begins and an
/// end event with `duration_seconds` and `bytes` when it ends — `viewer.joined` / `viewer.left`
/// for live video (Socket.IO `watch`, `/ws`, HLS players), `video.played` /
/// `video.playback_ended` for stored videos.
final class ViewingSession: Sendable {
    struct Kind: Sendable {
        let started: String
        let ended: String
        static let live = Kind(started: "viewer.joined", ended: "viewer.left")
        static let playback = Kind(started: "video.played", ended: "video.playback_ended")
    }

    private let events: EventBus
    private let kind: Kind
    private let actor: String
    private let camera: String?
    private let details: JSONObject
    private let startedAt: Double
    private let state = Mutex<(bytes: Int, ended: Bool)>((0, false))

    /// Starts the session: emits its start event.
    init(events: EventBus, kind: Kind, actor: String, camera: String?, details: JSONObject, now: Double = WallClock.now()) {
        self.events = events
        self.kind = kind
        self.actor = actor
        self.camera = camera
        self.details = details
        startedAt = now
        events.emit(GatewayEvent(name: kind.started, actor: actor, camera: camera, details: details, time: now))
    }

    func add(bytes: Int) {
        state.withLock { $0.bytes = $0.bytes.addingReportingOverflow(bytes).overflow ? Int.max : $0.bytes + bytes }
    }

    /// Ends the session (once): emits its end event with how long it lasted and what it sent.
    func end(at time: Double = WallClock.now()) {
        guard let bytes = state.withLock({ state -> Int? in
            guard !state.ended else { return nil }
            state.ended = true
            return state.bytes
        }) else { return }
        var details = details
        details["duration_seconds"] = .double((max(0, time - startedAt) * 1000).rounded() / 1000)
        details["bytes"] = .int(bytes)
        details["started"] = .string(WallClock.iso8601(startedAt))
        details["ended"] = .string(WallClock.iso8601(time))
        events.emit(GatewayEvent(name: kind.ended, actor: actor, camera: camera, details: details, time: time))
    }
}

/// Sessions of clients that have no connection to end them (HLS players, ranged downloads):
/// one per user and subject (a camera or a video), from its first request until `idleSeconds`
/// after its last; then it ends with the time from the first to the last request.
final class RequestSessions: Service, Sendable {
    struct Key: Hashable, Sendable {
        let user: String
        let subject: String
    }

    private struct Entry {
        let session: ViewingSession
        var last: Double
    }

    private let events: EventBus
    let idleSeconds: Double
    private let sessions = Mutex<[Key: Entry]>([:])

    init(events: EventBus, idleSeconds: Double = 30) {
        self.events = events
        self.idleSeconds = idleSeconds
    }

    var count: Int { sessions.withLock { $0.count } }

    /// Notes a request of `user` for `subject` that sent `bytes`, starting a session if none is open.
    func record(_ kind: ViewingSession.Kind, user: String, subject: String, camera: String?, details: JSONObject, bytes: Int,
                now: Double = WallClock.now()) {
        let key = Key(user: user, subject: subject)
        let session = sessions.withLock { sessions in
            if var entry = sessions[key] {
                entry.last = now
                sessions[key] = entry
                return entry.session
            }
            let started = ViewingSession(events: events, kind: kind, actor: user, camera: camera, details: details, now: now)
            sessions[key] = Entry(session: started, last: now)
            return started
        }
        session.add(bytes: bytes)
    }

    /// Ends the sessions idle since `now - idleSeconds`.
    func sweep(now: Double = WallClock.now()) {
        let ended = sessions.withLock { sessions in
            let idle = sessions.filter { now - $0.value.last >= idleSeconds }
            for key in idle.keys { sessions[key] = nil }
            return Array(idle.values)
        }
        for entry in ended { entry.session.end(at: entry.last) }
    }

    /// Sweeps every few seconds; at shutdown ends every open session.
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(min(5, self.idleSeconds)))
                self.sweep()
            }
        }
        sweep(now: .infinity)
    }
}
