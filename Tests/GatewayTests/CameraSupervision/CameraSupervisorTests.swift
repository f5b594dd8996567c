import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Synchronization
import Testing

/// A clock whose sleeps return at once and are recorded.
final class RecordingClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))
    var now: Instant { Instant(offset: state.withLock { $0.now }) }
    var minimumResolution: Duration { .zero }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func advance(by duration: Duration) { state.withLock { $0.now += duration } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        state.withLock { state in
            state.sleeps.append(deadline.offset - state.now)
            state.now = deadline.offset
        }
        try Task.checkCancellation()
    }
}

/// Fails `failures` times, then publishes one packet and ends.
final class FlakySource: CameraSource, @unchecked Sendable {
    private let failures: Int
    private let attempts = Mutex(0)
    private let streams: StreamSet
    private let packet: MediaPacket
    private let clock: RecordingClock
    private let sessionLength: Duration

    init(failures: Int, clock: RecordingClock, sessionLength: Duration = .zero) throws {
        self.failures = failures
        self.clock = clock
        self.sessionLength = sessionLength
        let (streams, packets) = try readAllPackets(try TestMedia.shortVideoNow())
        self.streams = streams
        packet = packets[0]
    }

    var attemptCount: Int { attempts.withLock { $0 } }

    func run(output: any SourceOutput) async throws {
        let attempt = attempts.withLock { $0 += 1; return $0 }
        if attempt <= failures { throw MediaError(.open, component: "flaky", "cannot open rtsp://user:secret@camera/stream") }
        try output.begin(streams)
        try output.publish(packet)
        clock.advance(by: sessionLength)
    }
}

@Suite struct CameraSupervisorTests {
    @Test func backoffGrowsExponentiallyWithJitterUpToTheCap() {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), multiplier: 2, jitter: 0.2)
        var random = SystemRandomNumberGenerator()
        let delays = (0..<7).map { _ in backoff.nextDelay(using: &random).seconds }
        for (delay, base) in zip(delays, [1.0, 2, 4, 8, 10, 10, 10]) {
            #expect(delay >= base * 0.8 - 0.001 && delay <= base * 1.2 + 0.001, "\(delay) for base \(base)")
        }
        backoff.reset()
        let first = backoff.nextDelay(using: &random).seconds
        #expect(first >= 0.8 && first <= 1.2)
    }

    @Test func aFailingSourceIsRetriedWithBackoffThenComesOnline() async throws {
        let clock = RecordingClock()
        let source = try FlakySource(failures: 3, clock: clock)
        let logger = Logger(label: "test")
        let events = EventBus(logger: logger)
        let seen = Mutex<[String]>([])
        events.observe { event in
            if event.name == "camera.state_changed", case .string(let to)? = event.details["to"] { seen.withLock { $0.append(to) } }
        }
        let hub = StreamHub(cameraID: "flaky")
        let supervisor = CameraSupervisor(cameraID: "flaky", source: source, hub: hub, events: events, logger: logger, clock: clock)
        #expect(supervisor.currentStatus.state == .starting)
        try await supervisor.run()

        #expect(source.attemptCount == 4)
        let delays = clock.sleeps.map(\.seconds)
        #expect(delays.count == 3)
        for (delay, base) in zip(delays, [1.0, 2, 4]) {
            #expect(delay >= base * 0.8 - 0.001 && delay <= base * 1.2 + 0.001, "\(delay) for base \(base)")
        }
        let status = supervisor.currentStatus
        #expect(status.state == .offline)
        #expect(status.reconnects == 3)
        #expect(status.lastError?.contains("rtsp://***@camera/stream") == true)
        #expect(status.lastError?.contains("secret") == false)
        #expect(seen.withLock { $0 } == ["reconnecting", "online", "offline"])
        #expect(hub.statistics.packets == 1)
    }

    @Test func aSessionThatStayedUpResetsTheBackoff() async throws {
        let clock = RecordingClock()
        // Every attempt goes online for a minute, then fails: the delay never grows.
        final class UpThenDown: CameraSource, @unchecked Sendable {
            let inner: FlakySource
            let clock: RecordingClock
            let runs = Mutex(0)
            init(clock: RecordingClock) throws { self.clock = clock; inner = try FlakySource(failures: 0, clock: clock, sessionLength: .seconds(60)) }
            func run(output: any SourceOutput) async throws {
                let run = runs.withLock { $0 += 1; return $0 }
                try await inner.run(output: output)
                if run < 4 { throw MediaError(.read, component: "updown", "connection reset") }
            }
        }
        let source = try UpThenDown(clock: clock)
        let logger = Logger(label: "test")
        let supervisor = CameraSupervisor(cameraID: "updown", source: source, hub: StreamHub(cameraID: "updown"),
                                          events: EventBus(logger: logger), logger: logger, clock: clock)
        try await supervisor.run()
        #expect(clock.sleeps.count == 3)
        #expect(clock.sleeps.allSatisfy { $0.seconds <= 1.2 })
    }
}

/// Publishes a packet every 20 ms until cancelled; counts its sessions.
final class EndlessSource: CameraSource, @unchecked Sendable {
    let streams: StreamSet
    let packet: MediaPacket
    let runs = Mutex(0)
    let active = Mutex(false)

    init() throws {
        let (streams, packets) = try readAllPackets(try TestMedia.shortVideoNow())
        self.streams = streams
        packet = packets[0]
    }

    func run(output: any SourceOutput) async throws {
        runs.withLock { $0 += 1 }
        active.withLock { $0 = true }
        defer { active.withLock { $0 = false } }
        try output.begin(streams)
        var index: Int64 = 0
        while !Task.isCancelled {
            try output.publish(packet.offset(by: index * 512))
            index += 1
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

@Suite struct OnDemandSupervisorTests {
    @Test func anOnDemandSourceRunsWhileSomeoneReadsAndStopsWhenIdle() async throws {
        let source = try EndlessSource()
        let logger = Logger(label: "test")
        let events = EventBus(logger: logger)
        let seen = Mutex<[String]>([])
        events.observe { event in
            if event.name == "camera.state_changed", case .string(let to)? = event.details["to"] { seen.withLock { $0.append(to) } }
        }
        let hub = StreamHub(cameraID: "od")
        var options = SourceOptions()
        options.onDemand = true
        options.idleTimeout = 0.3
        let supervisor = CameraSupervisor(cameraID: "od", source: source, hub: hub, events: events, logger: logger, options: options)
        let running = Task { try await supervisor.run() }

        #expect(try await eventually { supervisor.currentStatus.state == .idle })
        try await Task.sleep(for: .milliseconds(200))
        #expect(source.runs.withLock { $0 } == 0)

        let reader = hub.subscribe(name: "viewer")
        #expect(try await eventually { supervisor.currentStatus.state == .online })
        #expect(source.runs.withLock { $0 } == 1)
        var received = 0
        for await event in reader {
            if case .packet = event { received += 1 }
            if received == 5 { break }
        }
        // A standing reader (a sink's) does not keep the camera connected.
        let standing = hub.subscribe(name: "sink", demands: false)
        reader.close()
        let closedAt = ContinuousClock.now
        #expect(try await eventually { supervisor.currentStatus.state == .idle })
        #expect(closedAt.duration(to: .now) >= .milliseconds(250))
        #expect(try await eventually { !source.active.withLock { $0 } })
        standing.close()

        // A new viewer starts a new session.
        let again = hub.subscribe(name: "viewer-2")
        #expect(try await eventually { supervisor.currentStatus.state == .online })
        #expect(source.runs.withLock { $0 } == 2)
        again.close()
        running.cancel()
        try await running.value
        #expect(supervisor.currentStatus.state == .offline)
        #expect(seen.withLock { $0 } == ["idle", "online", "idle", "online", "offline"])
        #expect(supervisor.currentStatus.reconnects == 0)
    }
}
