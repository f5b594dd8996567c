import DequeModule
import Foundation
import JSON
import Metrics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Options every event backend accepts beside its own; they matter for remote backends (MQTT,
/// PostgreSQL), whose events wait in a spool on disk until the server has them.
public struct EventOptions: Decodable, Sendable, ConfigPlaceholder {
    /// Most events the spool keeps; beyond it the oldest are dropped (and counted). Default 100 000.
    public var spoolMaxEvents = 100_000
    /// Most bytes of events the spool keeps, likewise. Default 64 MiB.
    public var spoolMaxBytes = 64 << 20

    enum CodingKeys: String, CodingKey {
        case spoolMaxEvents = "spool_max_events", spoolMaxBytes = "spool_max_bytes"
    }

    public init() {}
    public static var configPlaceholder: EventOptions { EventOptions() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        spoolMaxEvents = try container.decodeIfPresent(Int.self, forKey: .spoolMaxEvents) ?? spoolMaxEvents
        spoolMaxBytes = try container.decodeIfPresent(Int.self, forKey: .spoolMaxBytes) ?? spoolMaxBytes
        try decoder.requireRange(spoolMaxEvents, 1...100_000_000, CodingKeys.spoolMaxEvents)
        try decoder.requireRange(spoolMaxBytes, 4096...(1 << 40), CodingKeys.spoolMaxBytes)
    }
}

/// The durable queue in front of one remote event backend. Events are appended in emit order,
/// written to segment files under its directory (one line per event), handed to the backend in
/// batches and removed only once the backend took them: delivery is at least once and in order,
/// across broker outages and gateway restarts. Beyond `maxEvents` or `maxBytes` the oldest events
/// are dropped and counted (`gateway_events_dropped_total{backend}`).
///
/// On disk: `<sequence>.jsonl` segments, each named by the sequence number of its first line,
/// lines `sequence TAB unix-time TAB event-json`; `head` holds the last sequence delivered or
/// dropped. A line cut short by a crash is ignored at the next start. Writes run on an IOQueue
/// (never on an event loop), each batch followed by fdatasync.
public final class EventSpool: Sendable {
    public struct Entry: Sendable {
        public let sequence: UInt64
        public let event: GatewayEvent
        let size: Int
    }

    private struct State {
        var pending = Deque<Entry>()
        var bytes = 0
        var nextSequence: UInt64 = 1
        /// Every sequence up to here was delivered or dropped.
        var head: UInt64 = 0
        var headWritten: UInt64 = 0
        var unwritten: [UInt8] = []
        var unwrittenFirst: UInt64 = 0
        var flushQueued = false
        var waiter: CheckedContinuation<Void, Never>?
        var draining = false
    }

    /// Touched on the IO thread only.
    private struct Files {
        var segments: [(first: UInt64, path: String)] = []
        var lastWritten: UInt64 = 0
        var descriptor: Int32 = -1
        var currentSize = 0
        var failure: String?
    }

    public let directory: String
    public let maxEvents: Int
    public let maxBytes: Int
    let segmentBytes: Int
    private let state = Mutex(State())
    private let files = Mutex(Files())
    private let io: IOQueue
    private let dropped: Counter
    private let depth: Gauge

    /// Opens (or creates) the spool in `directory`, loading what an earlier run left undelivered.
    public init(directory: String, backend: String, maxEvents: Int, maxBytes: Int, segmentBytes: Int = 4 << 20,
                metrics: any MetricsFactory = MetricsSystem.factory) throws {
        self.directory = directory
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        io = IOQueue(name: "spool-\(backend)")
        dropped = Counter(label: MetricName.eventsDropped, dimensions: [("backend", backend)], factory: metrics)
        depth = Gauge(label: MetricName.eventsSpooled, dimensions: [("backend", backend)], factory: metrics)
        try FileIO.makeDirectory(directory)
        try load()
    }

    /// Events waiting for the backend.
    public var count: Int { state.withLock { $0.pending.count } }

    /// Appends `event`; never blocks on the disk.
    public func append(_ event: GatewayEvent) {
        let body = Array(JSONWriter.string(event.json).utf8)
        let (queueFlush, waiter, droppedCount, pendingCount) = state.withLock { state in
            let sequence = state.nextSequence
            state.nextSequence += 1
            var line = Array("\(sequence)\t\(event.time)\t".utf8)
            line += body
            line.append(0x0A)
            if state.unwritten.isEmpty { state.unwrittenFirst = sequence }
            state.unwritten += line
            state.pending.append(Entry(sequence: sequence, event: event, size: line.count))
            state.bytes += line.count
            let droppedCount = Self.enforceBounds(&state, maxEvents: maxEvents, maxBytes: maxBytes)
            let queueFlush = !state.flushQueued
            state.flushQueued = true
            defer { state.waiter = nil }
            return (queueFlush, state.waiter, droppedCount, state.pending.count)
        }
        if droppedCount > 0 { dropped.increment(by: droppedCount) }
        depth.record(pendingCount)
        if queueFlush { io.submit { self.flush() } }
        waiter?.resume()
    }

    /// Up to `limit` of the oldest undelivered events, waiting while there are none. Returns an
    /// empty array once `drain()` was called and nothing is left, or when the task is cancelled.
    public func next(limit: Int) async -> [Entry] {
        while !Task.isCancelled {
            let batch: [Entry]? = state.withLock { state in
                if !state.pending.isEmpty { return Array(state.pending.prefix(limit)) }
                return state.draining ? [] : nil
            }
            if let batch { return batch }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state in
                        if !state.pending.isEmpty || state.draining || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                self.wake()
            }
        }
        return []
    }

    /// The backend has every event up to `sequence`: they leave the spool.
    public func acknowledge(through sequence: UInt64) {
        let pendingCount = state.withLock { state in
            while let first = state.pending.first, first.sequence <= sequence {
                state.pending.removeFirst()
                state.bytes -= first.size
            }
            state.head = max(state.head, sequence)
            return state.pending.count
        }
        depth.record(pendingCount)
        scheduleFlush()
    }

    /// Whether `drain()` was called (the gateway is stopping).
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// From now on `next` returns an empty batch instead of waiting once the spool is empty.
    public func drain() {
        state.withLock { $0.draining = true }
        wake()
    }

    /// Writes everything appended so far to disk, and the head; returns once it is there.
    public func close() async {
        _ = try? await io.perform { self.flush() }
        io.shutdown()
    }

    private func wake() {
        let waiter = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func scheduleFlush() {
        let queue = state.withLock { state in
            defer { state.flushQueued = true }
            return !state.flushQueued
        }
        if queue { io.submit { self.flush() } }
    }

    private static func enforceBounds(_ state: inout State, maxEvents: Int, maxBytes: Int) -> Int {
        var droppedCount = 0
        while state.pending.count > maxEvents || (state.bytes > maxBytes && state.pending.count > 1) {
            let oldest = state.pending.removeFirst()
            state.bytes -= oldest.size
            state.head = max(state.head, oldest.sequence)
            droppedCount += 1
        }
        return droppedCount
    }

    // MARK: on the IO thread

    private func flush() {
        let (lines, first, head, headChanged) = state.withLock { state in
            defer {
                state.unwritten = []
                state.flushQueued = false
                state.headWritten = state.head
            }
            return (state.unwritten, state.unwrittenFirst, state.head, state.head != state.headWritten)
        }
        files.withLock { files in
            if !lines.isEmpty { write(lines, first: first, &files) }
            if headChanged {
                do {
                    try FileIO.write(Array("\(head)\n".utf8), to: directory + "/head")
                } catch {
                    files.failure = "\(error)"
                }
                removeDelivered(through: head, &files)
            }
        }
    }

    private func write(_ lines: [UInt8], first: UInt64, _ files: inout Files) {
        if files.descriptor >= 0, files.currentSize >= segmentBytes {
            Glibc.close(files.descriptor)
            files.descriptor = -1
        }
        if files.descriptor < 0 {
            // A file of that name can only hold a line cut short by a crash: start it afresh.
            let path = directory + "/" + Self.segmentName(first)
            files.segments.removeAll { $0.first >= first }
            files.descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
            guard files.descriptor >= 0 else {
                files.failure = "cannot create \(path): \(String(cString: strerror(errno)))"
                return
            }
            files.segments.append((first, path))
            files.currentSize = 0
        }
        var offset = 0
        while offset < lines.count {
            let written = lines.withUnsafeBytes { Glibc.write(files.descriptor, $0.baseAddress! + offset, lines.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                files.failure = "cannot write the event spool: \(String(cString: strerror(errno)))"
                return
            }
            offset += written
        }
        fdatasync(files.descriptor)
        files.currentSize += lines.count
        files.lastWritten = first + UInt64(lines.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }) - 1
    }

    /// Removes the segments whose every line is at or before `head`.
    private func removeDelivered(through head: UInt64, _ files: inout Files) {
        while let oldest = files.segments.first {
            let isCurrent = files.segments.count == 1
            let last = isCurrent ? files.lastWritten : files.segments[1].first - 1
            guard last <= head else { return }
            if isCurrent, files.descriptor >= 0 {
                Glibc.close(files.descriptor)
                files.descriptor = -1
            }
            FileIO.remove(oldest.path)
            files.segments.removeFirst()
        }
    }

    static func segmentName(_ first: UInt64) -> String { String(first).leftPadded(to: 20) + ".jsonl" }

    // MARK: start

    private func load() throws {
        let head = (try? FileIO.read(directory + "/head")).flatMap { UInt64(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) } ?? 0
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .compactMap { name -> (UInt64, String)? in
                guard name.hasSuffix(".jsonl"), let first = UInt64(name.dropLast(6)) else { return nil }
                return (first, name)
            }
            .sorted { $0.0 < $1.0 }
        var loaded = State()
        loaded.head = head
        loaded.headWritten = head
        var last = head
        var droppedCount = 0
        var segments: [(first: UInt64, path: String)] = []
        for (first, name) in names {
            let path = directory + "/" + name
            segments.append((first, path))
            guard let bytes = try? FileIO.read(path) else { continue }
            var start = 0
            while let end = bytes[start...].firstIndex(of: 0x0A) {
                let line = bytes[start..<end]
                start = end + 1
                guard let (sequence, event) = Self.parse(line), sequence > last else { continue }
                last = sequence
                loaded.pending.append(Entry(sequence: sequence, event: event, size: line.count + 1))
                loaded.bytes += line.count + 1
                droppedCount += Self.enforceBounds(&loaded, maxEvents: maxEvents, maxBytes: maxBytes)
            }
        }
        loaded.nextSequence = last + 1
        let pendingCount = loaded.pending.count
        state.withLock { $0 = loaded }
        // New lines go to a new segment: one that a crash cut short is never appended to.
        files.withLock { files in
            files.segments = segments
            files.lastWritten = last
            removeDelivered(through: loaded.head, &files)
        }
        if droppedCount > 0 { dropped.increment(by: droppedCount) }
        depth.record(pendingCount)
    }

    private static func parse(_ line: ArraySlice<UInt8>) -> (UInt64, GatewayEvent)? {
        let fields = line.split(separator: 0x09, maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3,
              let sequence = UInt64(String(decoding: fields[0], as: UTF8.self)),
              let time = Double(String(decoding: fields[1], as: UTF8.self)),
              let json = try? JSONParser.parse(Array(fields[2])),
              let event = GatewayEvent(json: json, time: time) else { return nil }
        return (sequence, event)
    }
}

extension GatewayEvent {
    /// The event `json` describes (as `GatewayEvent.json` writes it), at `time`.
    init?(json: JSONValue, time: Double) {
        guard case .string(let name)? = json["event"], case .string(let id)? = json["id"] else { return nil }
        var actor: String?, camera: String?, details = JSONObject()
        if case .string(let value)? = json["actor"] { actor = value }
        if case .string(let value)? = json["camera"] { camera = value }
        if case .object(let value)? = json["details"] { details = value }
        self.init(name: name, actor: actor, camera: camera, details: details, time: time, id: id)
    }
}
