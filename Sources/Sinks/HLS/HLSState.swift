import GatewayCore
import Metrics
import JSON
import Synchronization

/// One camera's HLS window and bytes, shared by the muxer and the requests.
actor HLSState {
    private let configuration: HLSSinkConfiguration
    private let cameraID: String
    private let events: EventBus
    private var playlist: HLSPlaylist? {
        didSet { shared.contents.withLock { $0.rendered = nil } }
    }
    /// The bytes held in memory and the rendered playlist, readable without the actor.
    nonisolated let shared = HLSShared()
    /// The names on disk (directory storage).
    private var onDisk: Set<String> = []
    /// Parts of the segment in progress, to assemble it whatever the storage.
    private var partBytes: [String: [UInt8]] = [:]
    private let directory: String?
    private let io: IOQueue
    private var codecs = ""
    private var resolution: (width: Int, height: Int)?
    private var peakBitrate = 0
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
    private var waiters: [(deadline: Double, check: @Sendable (isolated HLSState) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
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
    // cooperative pool, in the order asked: a read queued after a write finds the file.

    private func put(_ name: String, _ bytes: [[UInt8]]) {
        guard let directory else { shared.contents.withLock { $0.store[name] = HLSShared.Stored(bytes) }; return }
        onDisk.insert(name)
        io.submit { [self] in
            do {
                try FileIO.makeDirectory(directory)
                try FileIO.write(bytes.count == 1 ? bytes[0] : Array(bytes.joined()), to: directory + "/" + name)
            } catch {
                Task { await self.keepInMemory(name, bytes) }
            }
        }
    }

    /// A segment that could not be written is served from memory rather than lost.
    private func keepInMemory(_ name: String, _ bytes: [[UInt8]]) {
        guard onDisk.remove(name) != nil else { return }  // dropped meanwhile
        shared.contents.withLock { $0.store[name] = HLSShared.Stored(bytes) }
    }

    private func drop(_ name: String) {
        shared.contents.withLock { _ = $0.store.removeValue(forKey: name) }
        if let directory, onDisk.remove(name) != nil { io.submit { FileIO.remove(directory + "/" + name) } }
    }

    private func has(_ name: String) -> Bool { shared.contents.withLock { $0.store[name] != nil } || onDisk.contains(name) }

    private func stored(_ name: String) async -> HLSShared.Stored? {
        if let stored = shared.contents.withLock({ $0.store[name] }) { return stored }
        guard let directory, onDisk.contains(name) else { return nil }
        return try? await io.perform { HLSShared.Stored([try FileIO.read(directory + "/" + name)], identity: 0) }
    }

    private var allNames: [String] { shared.contents.withLock { Array($0.store.keys) } + Array(onDisk) }

    /// Returns true when the muxer should be started.
    /// A request by `player`; true when the muxer must start. After an operator's stop only
    /// `resuming` (an operator's start) starts it again.
    func touch(player: String, resuming: Bool) -> Bool {
        let now = MonotonicTime.seconds()
        lastRequest = now
        players[player] = now
        updatePlayers(now: now)
        if resuming { stoppedByOperator = false }
        guard !stoppedByOperator else { return false }
        stopRequested = false
        shared.contents.withLock { $0.served[player] = MonotonicTime.nanoseconds() }
        defer { running = true }
        return !running
    }

    private func updatePlayers(now: Double) {
        players = players.filter { now - $0.value < max(configuration.segmentDuration * 3, 6) }
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
            // Requests' waits end when what they wait for arrives (`apply` wakes them); this
            // sweep only ends the overdue ones, and notices idleness and players that left.
            let sweep = waiters.isEmpty ? 1.0 : min(max(waiters.map(\.deadline).min()! - now, 0.02), 0.25)
            let pause = Duration.milliseconds(Int64(min(sweep, max(lastRequest + configuration.idleTimeout - now, 0.02)) * 1000))
            let sleeper = Task { _ = try? await Task.sleep(for: pause) }
            sweeper = sleeper
            sweepAt = now + pause.seconds
            await withTaskCancellationHandler { await sleeper.value } onCancel: { sleeper.cancel() }
        }
    }

    /// The muxer ended: an idle camera keeps nothing.
    func stopped() {
        running = false
        muxing = false
        playlist = nil
        shared.contents.withLock { $0.served = [:] }
        for name in allNames { drop(name) }
        partBytes = [:]
        peakBitrate = 0
        wake()
    }

    func begin(initSegment: [UInt8], streams: StreamSet) {
        let name = "init-\(streams.generation).mp4"
        if playlist == nil {
            let fps = streams.video?.frameRate ?? 25
            // Numbered from the time (tenths of a second) so that a playlist made again — after
            // a restart, or on another node of a cluster after a failover — never goes back:
            // a player reloading the same URL sees later segments and a new discontinuity
            // sequence (docs/scale-out.md).
            let start = Int(WallClock.now() * 10)
            playlist = HLSPlaylist(configuration: .init(segmentDuration: configuration.segmentDuration, partDuration: configuration.partDuration,
                                                         window: configuration.window), frameDuration: 1 / max(fps, 1),
                                   firstSequence: start, discontinuitySequence: start)
        }
        put(name, [initSegment])
        codecs = streams.codecs
        if let video = streams.video { resolution = (video.parameters.width, video.parameters.height) }
        apply(playlist!.begin(initName: name), fragment: nil)
    }

    func append(_ fragment: MP4Fragment) {
        guard playlist != nil else { return }
        let change = playlist!.append(duration: fragment.duration, independent: fragment.isIndependent, wallClock: WallClock.now())
        apply(change, fragment: fragment)
    }

    private func apply(_ change: HLSPlaylist.Change, fragment: MP4Fragment?) {
        if let segment = change.completed {
            let bytes = segment.parts.compactMap { partBytes.removeValue(forKey: $0.name) }
            put(segment.name, bytes)
            if segment.duration > 0 { peakBitrate = max(peakBitrate, Int(Double(bytes.reduce(0) { $0 + $1.count } * 8) / segment.duration)) }
        }
        if let part = change.part, let fragment {
            partBytes[part.name] = fragment.bytes
            // Parts are served only with LL-HLS.
            if configuration.partDuration > 0 { put(part.name, [fragment.bytes]) }
        }
        for name in change.evicted { drop(name) }
        // Init segments stay while a listed segment or the current session uses them.
        let liveInits = Set((playlist?.segments ?? []).map(\.initName) + [playlist?.initName].compactMap { $0 })
        for name in allNames where name.hasPrefix("init-") && !liveInits.contains(name) { drop(name) }
        wake()
    }

    // MARK: Requests

    /// How long a first playlist request waits for a starting camera's first segment: enough
    /// for a cold start with the default 2 s segments, short enough that a player is told
    /// (503, retry) rather than left hanging.
    private var firstSegmentWait: Double { min(configuration.segmentDuration * 3 + 2, 8) }

    func mediaPlaylist(query: String, blockUntil: (sequence: Int, part: Int?)?) async throws -> String {
        let ready = await wait(timeout: firstSegmentWait) { !($0.playlist?.segments.isEmpty ?? true) }
        guard ready, let current = playlist else { throw HLSError.unavailable }
        if let target = blockUntil {
            let next = current.nextPart
            if target.sequence > next.sequence + 2 { throw HLSError.badRequest("_HLS_msn \(target.sequence) is too far ahead (next is \(next.sequence))") }
            _ = await wait(timeout: Double(current.targetDuration) * 3) { $0.playlist?.has(sequence: target.sequence, part: target.part) ?? true }
        }
        guard let playlist else { throw HLSError.unavailable }
        let rendered = shared.contents.withLock { $0.rendered } ?? playlist.rendered()
        shared.contents.withLock { $0.rendered = rendered }
        return rendered.with(query: query)
    }

    func multivariantPlaylist(query: String) async throws -> String {
        guard await wait(timeout: firstSegmentWait, { !($0.playlist?.segments.isEmpty ?? true) }) else {
            throw HLSError.unavailable
        }
        var attributes = ["BANDWIDTH=\(max(peakBitrate, 1))", "CODECS=\"\(codecs)\""]
        if let resolution { attributes.append("RESOLUTION=\(resolution.width)x\(resolution.height)") }
        return ["#EXTM3U", "#EXT-X-VERSION:\(configuration.partDuration > 0 ? 9 : 7)", "#EXT-X-INDEPENDENT-SEGMENTS",
                "#EXT-X-STREAM-INF:" + attributes.joined(separator: ","), "index.m3u8" + query].joined(separator: "\n") + "\n"
    }

    func resource(named name: String) async -> HLSResource? {
        if !has(name), name.hasPrefix("part-"), let playlist {
            // A preload hint: the part is about to exist.
            let hinted = playlist.nextPart
            if name == "part-\(hinted.sequence)-\(hinted.part).m4s" {
                _ = await wait(timeout: max(playlist.partTarget * 4, 1)) { $0.has(name) || $0.playlist == nil }
            }
        }
        return await stored(name).map { $0.resource(contentType: HLSShared.contentType(of: name)) }
    }

    // MARK: Waiting

    /// Waits until `check` holds, the muxer stops, or `timeout` passes (the idle watcher's
    /// sweep ends overdue waits, so no timer task is needed).
    private func wait(timeout: Double, _ check: @escaping @Sendable (isolated HLSState) -> Bool) async -> Bool {
        if check(self) { return true }
        guard running else { return false }
        let deadline = MonotonicTime.seconds() + timeout
        // A wait that ends before the next sweep gets an earlier one.
        if deadline < sweepAt { sweeper?.cancel() }
        await withCheckedContinuation { continuation in
            waiters.append((deadline, check, continuation))
        }
        return check(self)
    }

    private func wake() {
        let now = MonotonicTime.seconds()
        var remaining: [(deadline: Double, check: @Sendable (isolated HLSState) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        for waiter in waiters {
            if !running || now >= waiter.deadline || waiter.check(self) {
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
