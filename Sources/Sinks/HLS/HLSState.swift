import GatewayCore
import Metrics
import JSON
import Synchronization

/// One camera's HLS window and bytes, shared by the muxer and the requests. The window is
/// updated on the camera's thread as each part is cut (`begin`, `append`: a tap on the
/// camera's fragments, no task woken); the actor keeps the requests' side — players, waits,
/// the idle watch — and is woken by a part only while a request waits for one.
actor HLSState {
    /// What the parts change, under `window`'s lock.
    struct Window {
        var playlist: HLSPlaylist?
        /// The names on disk (directory storage).
        var onDisk: Set<String> = []
        /// Parts of the segment in progress, to assemble it whatever the storage.
        var partBytes: [String: [UInt8]] = [:]
        var codecs = ""
        var resolution: (width: Int, height: Int)?
        var peakBitrate = 0
    }

    private let configuration: HLSSinkConfiguration
    private let cameraID: String
    private let events: EventBus
    nonisolated let window = Mutex(Window())
    /// The bytes held in memory and the rendered playlist, readable without the actor.
    nonisolated let shared = HLSShared()
    private let directory: String?
    private let io: IOQueue
    /// Wanted by a request (set at once, so that requests may wait for the first segment).
    private var running = false
    /// The muxer loop is on.
    private var muxing = false
    private var stopRequested = false
    /// `stream/stop` was asked for: viewers' requests do not restart the muxer until `stream/start`.
    private var stoppedByOperator = false
    private var lastRequest = MonotonicTime.seconds()
    private var players: [String: Double] = [:]
    private var reportedPlayers = 0
    private var waiters: [(deadline: Double, check: @Sendable (Window) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    /// Requests waiting or about to (counted before their first look at the window): a part
    /// cut meanwhile wakes the actor to look again.
    private nonisolated let waiting = Atomic<Int>(0)
    private let playersGauge: Gauge
    /// The idle watcher's pause, cut short by a stop.
    private var sweeper: Task<Void, Never>?
    private var sweepAt = 0.0

    init(configuration: HLSSinkConfiguration, cameraID: String, events: EventBus, metrics: any MetricsFactory) {
        self.configuration = configuration
        self.cameraID = cameraID
        self.events = events
        playersGauge = Gauge(label: MetricName.hlsPlayers, dimensions: [("camera", cameraID)], factory: metrics)
        directory = configuration.storage == .directory ? configuration.directory.map { $0 + "/" + cameraID } : nil
        io = IOQueue(name: "hls:\(cameraID)")
    }

    deinit { io.shutdown() }

    // MARK: Storage

    // With `storage: directory` the files are written, read and removed on `io`, off the
    // event loops, in the order asked: a read queued after a write finds the file.

    private nonisolated func put(_ window: inout Window, _ name: String, _ bytes: [[UInt8]]) {
        guard let directory else { shared.contents.withLock { $0.store[name] = HLSShared.Stored(bytes) }; return }
        window.onDisk.insert(name)
        io.submit { [self] in
            do {
                try FileIO.makeDirectory(directory)
                try FileIO.write(bytes.count == 1 ? bytes[0] : Array(bytes.joined()), to: directory + "/" + name)
            } catch {
                keepInMemory(name, bytes)
            }
        }
    }

    /// A segment that could not be written is served from memory rather than lost.
    private nonisolated func keepInMemory(_ name: String, _ bytes: [[UInt8]]) {
        window.withLock { window in
            guard window.onDisk.remove(name) != nil else { return }  // dropped meanwhile
            shared.contents.withLock { $0.store[name] = HLSShared.Stored(bytes) }
        }
    }

    private nonisolated func drop(_ window: inout Window, _ name: String) {
        shared.contents.withLock { _ = $0.store.removeValue(forKey: name) }
        if let directory, window.onDisk.remove(name) != nil { io.submit { FileIO.remove(directory + "/" + name) } }
    }

    private nonisolated func has(_ window: Window, _ name: String) -> Bool {
        shared.contents.withLock { $0.store[name] != nil } || window.onDisk.contains(name)
    }

    private func stored(_ name: String) async -> HLSShared.Stored? {
        if let stored = shared.contents.withLock({ $0.store[name] }) { return stored }
        guard let directory, window.withLock({ $0.onDisk.contains(name) }) else { return nil }
        return try? await io.perform { HLSShared.Stored([try FileIO.read(directory + "/" + name)], identity: 0) }
    }

    private nonisolated func allNames(_ window: Window) -> [String] {
        shared.contents.withLock { Array($0.store.keys) } + Array(window.onDisk)
    }

    /// Returns true when the muxer should be started.
    /// A request by `player`; true when the muxer must start. After an operator's stop only
    /// `resuming` (an operator's start) starts it again.
    func touch(player: String, resuming: Bool) -> Bool {
        let now = MonotonicTime.seconds()
        lastRequest = now
        players[player] = now
        // A player's leaving is noticed by the idle watch's sweep: one that sleeps past when this
        // player may leave (no players before) is cut short.
        if now + playerWindow < sweepAt { sweeper?.cancel() }
        updatePlayers(now: now)
        if resuming { stoppedByOperator = false }
        guard !stoppedByOperator else { return false }
        stopRequested = false
        shared.contents.withLock { $0.served[player] = MonotonicTime.nanoseconds() }
        defer { running = true }
        return !running
    }

    /// How long a player counts after its last request.
    private var playerWindow: Double { max(configuration.segmentDuration * 3, 6) }

    private func updatePlayers(now: Double) {
        players = players.filter { now - $0.value < playerWindow }
        guard players.count != reportedPlayers else { return }
        reportedPlayers = players.count
        playersGauge.record(players.count)
        events.emit(GatewayEvent(name: "stream.viewers", camera: cameraID, details: JSONObject([
            ("protocol", .string("hls")), ("viewers", .int(players.count)),
        ])))
    }

    var isRunning: Bool { running }

    /// The muxer loop claims a start; false when it already runs or nobody wants it any more.
    func start() -> Bool {
        guard running, !muxing else { return false }
        muxing = true
        return true
    }

    func requestStop() {
        stopRequested = true
        stoppedByOperator = true
        shared.contents.withLock { $0.served = [:] }
        sweeper?.cancel()
        wake()
    }

    /// Returns when no request came for `idle_timeout`, or a stop was asked for.
    func waitUntilIdle() async {
        while !Task.isCancelled {
            let now = MonotonicTime.seconds()
            updatePlayers(now: now)
            wake()
            if stopRequested || now - lastRequest > configuration.idleTimeout { return }
            // Requests' waits end when what they wait for arrives (a part wakes them through
            // `notifyWaiters`); this sweep only ends the overdue ones, and notices idleness and
            // players that left. It sleeps until the first of those can be due — not on a fixed
            // tick, which woke every camera's actor each second for nothing. A request moves
            // idleness later; a new player or a new wait that may end sooner cuts the sleep short
            // (`touch`, `wait`).
            let left = players.values.min().map { $0 + playerWindow - now + 0.01 } ?? .infinity
            let overdue = waiters.map(\.deadline).min().map { min($0 - now, 0.25) } ?? .infinity
            let idle = lastRequest + configuration.idleTimeout - now + 0.01
            let pause = Duration.milliseconds(Int64(min(max(min(left, overdue, idle), 0.02), 60) * 1000))
            let sleeper = Task { _ = try? await Task.sleep(for: pause) }
            sweeper = sleeper
            sweepAt = now + pause.seconds
            await withTaskCancellationHandler { await sleeper.value } onCancel: { sleeper.cancel() }
        }
    }

    /// The muxer ended (its tap is off): an idle camera keeps nothing.
    func stopped() {
        running = false
        muxing = false
        window.withLock { window in
            window.playlist = nil
            for name in allNames(window) { drop(&window, name) }
            window.partBytes = [:]
            window.peakBitrate = 0
            shared.contents.withLock {
                $0.rendered = nil
                $0.served = [:]
            }
        }
        wake()
    }

    // MARK: Parts (on the camera's thread)

    nonisolated func begin(initSegment: [UInt8], streams: StreamSet) {
        let name = "init-\(streams.generation).mp4"
        window.withLock { window in
            if window.playlist == nil {
                let fps = streams.video?.frameRate ?? 25
                // Numbered from the time (tenths of a second) so that a playlist made again — after
                // a restart, or on another node of a cluster after a failover — never goes back:
                // a player reloading the same URL sees later segments and a new discontinuity
                // sequence (docs/scale-out.md).
                let start = Int(WallClock.now() * 10)
                window.playlist = HLSPlaylist(configuration: .init(segmentDuration: configuration.segmentDuration,
                                                                    partDuration: configuration.partDuration, window: configuration.window),
                                              frameDuration: 1 / max(fps, 1), firstSequence: start, discontinuitySequence: start)
            }
            put(&window, name, [initSegment])
            window.codecs = streams.codecs
            if let video = streams.video { window.resolution = (video.parameters.width, video.parameters.height) }
            let change = window.playlist!.begin(initName: name)
            apply(&window, change, fragment: nil)
        }
        notifyWaiters()
    }

    nonisolated func append(_ fragment: MP4Fragment) {
        let changed = window.withLock { window -> Bool in
            guard window.playlist != nil else { return false }
            let change = window.playlist!.append(duration: fragment.duration, independent: fragment.isIndependent,
                                                  beforeKeyframe: fragment.endsBeforeKeyframe, wallClock: WallClock.now())
            apply(&window, change, fragment: fragment)
            return true
        }
        if changed { notifyWaiters() }
    }

    private nonisolated func apply(_ window: inout Window, _ change: HLSPlaylist.Change, fragment: MP4Fragment?) {
        shared.contents.withLock { $0.rendered = nil }
        // The part first: the segment that completes may end with it.
        if let part = change.part, let fragment {
            window.partBytes[part.name] = fragment.bytes
            // Parts are served only with LL-HLS.
            if configuration.partDuration > 0 { put(&window, part.name, [fragment.bytes]) }
        }
        for segment in change.completed {
            let bytes = segment.parts.compactMap { window.partBytes.removeValue(forKey: $0.name) }
            put(&window, segment.name, bytes)
            if segment.duration > 0 {
                window.peakBitrate = max(window.peakBitrate, Int(Double(bytes.reduce(0) { $0 + $1.count } * 8) / segment.duration))
            }
        }
        for name in change.evicted { drop(&window, name) }
        // Init segments stay while a listed segment or the current session uses them.
        let liveInits = Set((window.playlist?.segments ?? []).map(\.initName) + [window.playlist?.initName].compactMap { $0 })
        for name in allNames(window) where name.hasPrefix("init-") && !liveInits.contains(name) { drop(&window, name) }
    }

    /// A part changed the window: requests that wait look again (only then is the actor woken).
    private nonisolated func notifyWaiters() {
        guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return }
        Task { await self.wake() }
    }

    // MARK: Requests

    /// How long a first playlist request waits for a starting camera's first segment: enough
    /// for a cold start with the default 2 s segments, short enough that a player is told
    /// (503, retry) rather than left hanging.
    private var firstSegmentWait: Double { min(configuration.segmentDuration * 3 + 2, 8) }

    func mediaPlaylist(query: String, blockUntil: (sequence: Int, part: Int?)?) async throws -> String {
        let ready = await wait(timeout: firstSegmentWait) { !($0.playlist?.segments.isEmpty ?? true) }
        guard ready, let current = window.withLock({ $0.playlist }) else { throw HLSError.unavailable }
        if let target = blockUntil {
            let next = current.nextPart
            if target.sequence > next.sequence + 2 { throw HLSError.badRequest("_HLS_msn \(target.sequence) is too far ahead (next is \(next.sequence))") }
            _ = await wait(timeout: Double(current.targetDuration) * 3) { $0.playlist?.has(sequence: target.sequence, part: target.part) ?? true }
        }
        // Rendered under the window's lock, where parts invalidate it: what is kept is never
        // older than the window.
        let rendered = window.withLock { window -> RenderedPlaylist? in
            guard let playlist = window.playlist else { return nil }
            if let kept = shared.contents.withLock({ $0.rendered }) { return kept }
            let made = playlist.rendered()
            shared.contents.withLock { $0.rendered = made }
            return made
        }
        guard let rendered else { throw HLSError.unavailable }
        return rendered.with(query: query)
    }

    func multivariantPlaylist(query: String) async throws -> String {
        guard await wait(timeout: firstSegmentWait, { !($0.playlist?.segments.isEmpty ?? true) }) else {
            throw HLSError.unavailable
        }
        let (peakBitrate, codecs, resolution) = window.withLock { ($0.peakBitrate, $0.codecs, $0.resolution) }
        var attributes = ["BANDWIDTH=\(max(peakBitrate, 1))", "CODECS=\"\(codecs)\""]
        if let resolution { attributes.append("RESOLUTION=\(resolution.width)x\(resolution.height)") }
        return ["#EXTM3U", "#EXT-X-VERSION:\(configuration.partDuration > 0 ? 9 : 7)", "#EXT-X-INDEPENDENT-SEGMENTS",
                "#EXT-X-STREAM-INF:" + attributes.joined(separator: ","), "index.m3u8" + query].joined(separator: "\n") + "\n"
    }

    func resource(named name: String) async -> HLSResource? {
        let (present, playlist) = window.withLock { (has($0, name), $0.playlist) }
        if !present, name.hasPrefix("part-"), let playlist {
            // A preload hint: the part is about to exist.
            let hinted = playlist.nextPart
            if name == "part-\(hinted.sequence)-\(hinted.part).m4s" {
                _ = await wait(timeout: max(playlist.partTarget * 4, 1)) { [self] in has($0, name) || $0.playlist == nil }
            }
        }
        return await stored(name).map { $0.resource(contentType: HLSShared.contentType(of: name)) }
    }

    // MARK: Waiting

    private nonisolated func satisfied(_ check: @Sendable (Window) -> Bool) -> Bool { window.withLock { check($0) } }

    /// Waits until `check` holds, the muxer stops, or `timeout` passes (the idle watcher's
    /// sweep ends overdue waits, so no timer task is needed).
    private func wait(timeout: Double, _ check: @escaping @Sendable (Window) -> Bool) async -> Bool {
        // Counted before the first look: a part cut after it wakes the actor (`notifyWaiters`),
        // and the waiter is on the list before that wake-up can run here.
        waiting.add(1, ordering: .sequentiallyConsistent)
        defer { waiting.subtract(1, ordering: .sequentiallyConsistent) }
        if satisfied(check) { return true }
        guard running else { return false }
        let deadline = MonotonicTime.seconds() + timeout
        // A wait that ends before the next sweep gets an earlier one.
        if deadline < sweepAt { sweeper?.cancel() }
        await withCheckedContinuation { continuation in
            waiters.append((deadline, check, continuation))
        }
        return satisfied(check)
    }

    private func wake() {
        let now = MonotonicTime.seconds()
        var remaining: [(deadline: Double, check: @Sendable (Window) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        for waiter in waiters {
            if !running || now >= waiter.deadline || satisfied(waiter.check) {
                waiter.continuation.resume()
            } else {
                remaining.append(waiter)
            }
        }
        waiters = remaining
    }
}

/// What requests read without waiting for the actor (`HLSProvider.immediate`): the bytes held
/// in memory, the media playlist as last rendered, and when the full path last let each player
/// through (`touch`). Written by `HLSState` only.
final class HLSShared: Sendable {
    struct Contents {
        /// Bytes by name (memory storage). A segment is the arrays of its parts: parts and
        /// segments share their bytes (each array exactly the size of its part; a NIO
        /// ByteBuffer would round every part up to a power of two).
        var store: [String: Stored] = [:]
        /// The current playlist, rendered at the first request after it changed.
        var rendered: RenderedPlaylist?
        /// Player → when `touch` let them through (monotonic nanoseconds).
        var served: [String: Int64] = [:]
    }

    /// How long a player's last full request stands for its next ones.
    static let recent: Int64 = 1_000_000_000
    let contents = Mutex(Contents())

    /// A resource's bytes and their identity (`HLSResource.identity`).
    struct Stored: Sendable {
        static let identities = Atomic<UInt64>(0)
        let chunks: [[UInt8]]
        let identity: UInt64

        init(_ chunks: [[UInt8]], identity: UInt64? = nil) {
            self.chunks = chunks
            self.identity = identity ?? Self.identities.add(1, ordering: .relaxed).newValue
        }

        func resource(contentType: String) -> HLSResource {
            HLSResource(chunks: chunks, contentType: contentType, identity: identity)
        }
    }

    static func contentType(of name: String) -> String { name.hasPrefix("init-") ? "video/mp4" : "video/iso.segment" }

    func immediate(player: String, file: String) -> HLSImmediate? {
        let now = MonotonicTime.nanoseconds()
        return contents.withLock { contents -> HLSImmediate? in
            guard let served = contents.served[player], now - served < Self.recent else { return nil }
            if file == "index.m3u8" { return contents.rendered.map { .playlist($0) } }
            return contents.store[file].map { .resource($0.resource(contentType: Self.contentType(of: file))) }
        }
    }
}
