import Foundation
import GatewayCore
import Logging
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// The recorder's open segment, switch and retention, behind one actor.
actor RecorderState {
    private struct Segment {
        var record: VideoRecord
        let file: SegmentFile
        var bytes: Int
        /// Media time of the segment's first frame (the fragmenter's timeline, seconds): the
        /// file's fragments are moved back by it, so that each file starts at 0.
        let startMedia: Double
        /// Parts not written yet: they go to the file about once a second, in one I/O job, so a
        /// camera's recorder wakes its I/O thread once a second rather than per part.
        var unwritten: [FragmentTimeline.Shifted] = []
        var unwrittenBytes = 0
        var unwrittenSince = 0.0
    }

    /// How much media the recorder gathers before it writes.
    static let writeInterval = 1.0
    /// How often it takes the parts the camera's fragmenter cut.
    static let wakeInterval = Duration.seconds(1)
    static let writeBytes = 1 << 20

    private let store: SinkStore
    private let configuration: RecorderSinkConfiguration
    private(set) var enabled: Bool
    private var initSegment: MP4InitSegment?
    /// track_ID → timescale of `initSegment`.
    private var timescales: [UInt32: UInt32] = [:]
    private var segment: Segment?
    private var failed = false

    /// Ends the camera's fMP4 part in progress and returns it (`CameraFragmenter.cutNow`).
    private let cutNow: @Sendable () -> MP4Fragment?
    /// The parts the recorder's reader holds and has not handed over yet (it takes them in
    /// batches, `wakeInterval`).
    private let takeQueued: @Sendable () -> [FragmentEvent]

    /// Segment files are created, appended to, closed and removed on `store.io`; a failed
    /// write comes back to `writeFailed`.
    init(store: SinkStore, configuration: RecorderSinkConfiguration, cutNow: @escaping @Sendable () -> MP4Fragment?,
         takeQueued: @escaping @Sendable () -> [FragmentEvent]) {
        self.store = store
        self.configuration = configuration
        self.cutNow = cutNow
        self.takeQueued = takeQueued
        enabled = configuration.enabled
    }

    deinit { store.io.shutdown() }

    func setEnabled(_ on: Bool, actor: String?) async -> Bool {
        guard on != enabled else { return enabled }
        // Off first: a part arriving while the segment closes must not open a new one.
        enabled = on
        failed = false
        if !on { await finish(reason: "recording turned off") }
        store.events.emit(GatewayEvent(name: on ? "recording.started" : "recording.stopped", actor: actor, camera: store.cameraID))
        return enabled
    }

    /// Segments left open by a crash become ready recordings of what their file holds.
    func recoverInterrupted() async {
        guard let open = try? await store.storage.videos(VideoQuery(cameraIDs: [store.cameraID], kind: .recording, offset: 0, limit: 100)).videos else { return }
        for var record in open where record.status == .recording {
            let path = record.path
            record.size = (try? await store.io.perform { FileIO.size(path) ?? 0 }) ?? 0
            record.status = record.size > 0 ? .ready : .failed
            record.details["note"] = .string("closed after an interruption")
            try? await store.storage.updateVideo(record)
        }
    }

    func begin(_ initSegment: MP4InitSegment) async {
        // A new source session: the open segment ends; the next one starts at its first keyframe.
        await closeSegment(reason: "source restarted")
        self.initSegment = initSegment
        timescales = FragmentTimeline.timescales(initSegment: initSegment.bytes)
    }

    /// What the recorder's fragment reader took, in order.
    func handle(_ events: [FragmentEvent]) async {
        for event in events {
            switch event {
            case .initSegment(let initSegment): await begin(initSegment)
            case .fragment(let fragment): await append(fragment)
            case .skipped: await closeSegment(reason: "fragments were lost")
            }
        }
    }

    func append(_ fragment: MP4Fragment) async {
        guard enabled, !failed, let initSegment else { return }
        if let open = segment, fragment.isIndependent, fragment.startTime - open.startMedia >= configuration.segmentDuration {
            await closeSegment(reason: nil)
        }
        if segment == nil {
            guard fragment.isIndependent else { return }
            let start = FragmentTimeline.decodeTimes(fragment: fragment.bytes, timescales: timescales).values.min() ?? fragment.startTime
            // A part is handed out when it is complete: its first frame arrived about its
            // duration before (`publishedAt`), which is when the segment starts.
            let published = fragment.publishedAt > 0 ? fragment.publishedAt : WallClock.now()
            await open(initSegment, at: start, wall: published - fragment.duration)
            // Turned off while the file was being created.
            guard enabled else { return await closeSegment(reason: "recording turned off") }
        }
        appendToSegment(fragment)
    }

    /// Writes `fragment` to the open segment, moved back so the file starts at 0.
    private func appendToSegment(_ fragment: MP4Fragment) {
        guard var current = segment else { return }
        let bytes = FragmentTimeline.shifted(fragment.bytes, back: current.startMedia, timescales: timescales)
        if current.unwritten.isEmpty { current.unwrittenSince = fragment.startTime }
        current.unwritten.append(bytes)
        current.unwrittenBytes += bytes.count
        current.bytes += bytes.count
        if fragment.startTime + fragment.duration - current.unwrittenSince >= Self.writeInterval || current.unwrittenBytes >= Self.writeBytes {
            writeUnwritten(&current)
        }
        segment = current
    }

    private func writeUnwritten(_ current: inout Segment) {
        guard !current.unwritten.isEmpty else { return }
        write(current.unwritten, to: current)
        current.unwritten = []
        current.unwrittenBytes = 0
    }

    /// Closes the segment with everything that has arrived: the part in progress is cut now.
    func finish(reason: String) async {
        var queued = takeQueued()[...]
        if segment != nil {
            // The parts queued for the recorder, up to a new source session or a loss; then the
            // part in progress, unless it belongs to a session that began after them.
            while case .fragment(let fragment)? = queued.first {
                appendToSegment(fragment)
                queued.removeFirst()
            }
            if queued.isEmpty, let last = cutNow() { appendToSegment(last) }
        }
        await closeSegment(reason: reason)
        // A new source session among them: its init segment is the one to record with next.
        for case .initSegment(let initSegment) in queued { await begin(initSegment) }
    }

    /// Queues a write; a failure stops recording (once the actor hears of it).
    private func write(_ chunks: [FragmentTimeline.Shifted], to segment: Segment) {
        let file = segment.file, id = segment.record.id
        store.io.submit { [self] in
            for chunk in chunks {
                if let error = file.append(chunk.head) ?? chunk.withBody({ file.append($0) }) {
                    Task { await self.writeFailed(error, segment: id) }
                    return
                }
            }
        }
    }

    private func writeFailed(_ error: any Error, segment id: String) async {
        guard segment?.record.id == id else { return }
        await fail(error)
    }

    private func open(_ initSegment: MP4InitSegment, at media: Double, wall: Double) async {
        let id = Identifier.make(prefix: "rec-")
        let path = store.directory + "/" + WallClock.iso8601(wall).replacingOccurrences(of: ":", with: "-") + "-" + id + ".mp4"
        do {
            let initBytes = initSegment.bytes
            let file = try await store.io.perform { try SegmentFile(creating: path, initSegment: initBytes) }
            let record = VideoRecord(id: id, cameraID: store.cameraID, kind: .recording, status: .recording, path: path, start: wall, end: nil,
                                     size: initBytes.count, label: nil, createdBy: nil, createdAt: wall,
                                     details: JSONObject([("codecs", .string(initSegment.codecs))]))
            try await store.storage.insertVideo(record)
            segment = Segment(record: record, file: file, bytes: initBytes.count, startMedia: media)
        } catch {
            await fail(error)
        }
    }

    func closeSegment(reason: String?) async {
        guard var current = segment else { return }
        segment = nil
        writeUnwritten(&current)
        let file = current.file
        let closeError: (any Error)? = (try? await store.io.perform { file.close() }) ?? nil
        if let closeError {
            store.logger.error("a recording segment was not written in full", metadata: ["error": "\(closeError)"])
            current.record.details["error"] = .string("\(closeError)")
        }
        current.record.status = closeError == nil ? .ready : .failed
        current.record.size = current.bytes
        current.record.end = WallClock.now()
        if let reason { current.record.details["closed_because"] = .string(reason) }
        try? await store.storage.updateVideo(current.record)
        store.events.emit(GatewayEvent(name: "recording.segment_closed", camera: store.cameraID, details: JSONObject([
            ("video", .string(current.record.id)), ("size", .int(current.bytes)),
        ])))
        await applyRetention()
    }

    /// Oldest segments go first: past `retention_days`, then while the total passes `max_bytes`.
    private func applyRetention() async {
        guard configuration.retentionDays != nil || configuration.maxBytes != nil,
              let all = try? await store.storage.videos(VideoQuery(cameraIDs: [store.cameraID], kind: .recording, offset: 0, limit: 100_000)).videos else { return }
        var closed = all.filter { $0.status == .ready }.sorted { $0.createdAt < $1.createdAt }
        var total = closed.reduce(0) { $0 + $1.size }
        let now = WallClock.now()
        while let oldest = closed.first {
            let tooOld = configuration.retentionDays.map { now - oldest.createdAt > $0 * 86_400 } ?? false
            let tooBig = configuration.maxBytes.map { total > $0 } ?? false
            guard tooOld || tooBig else { break }
            closed.removeFirst()
            total -= oldest.size
            let path = oldest.path
            store.io.submit { FileIO.remove(path) }
            _ = try? await store.storage.deleteVideo(id: oldest.id)
            store.events.emit(GatewayEvent(name: "video.deleted", camera: store.cameraID, details: JSONObject([
                ("video", .string(oldest.id)), ("kind", .string("recording")), ("reason", .string(tooOld ? "retention_days" : "max_bytes")),
            ])))
        }
    }

    /// A write that fails (a full disk) stops recording with an event, not a crash.
    private func fail(_ error: any Error) async {
        failed = true
        store.logger.error("recording stopped", metadata: ["error": "\(error)"])
        store.events.emit(GatewayEvent(name: "recording.failed", camera: store.cameraID, details: JSONObject([("error", .string("\(error)"))])))
        if let current = segment {
            segment = nil
            let file = current.file
            store.io.submit { _ = file.close() }
            var record = current.record
            record.status = .failed
            record.size = current.bytes
            try? await store.storage.updateVideo(record)
        }
    }
}

/// A segment file while it is written. Touched only on the recorder's I/O thread (`IOQueue`).
private final class SegmentFile: @unchecked Sendable {
    private var descriptor: Int32
    private var failure: (any Error)?
    private var size = 0
    private var cache = PageCacheRelease()

    init(creating path: String, initSegment: [UInt8]) throws {
        descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o640)
        guard descriptor >= 0 else { throw FileIO.Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        if let error = append(initSegment) {
            Glibc.close(descriptor)
            throw error
        }
    }

    /// Appends `bytes`; the error of the first write that failed (later ones are not tried).
    func append(_ bytes: [UInt8]) -> (any Error)? { bytes.withUnsafeBytes { append($0) } }

    func append(_ bytes: UnsafeRawBufferPointer) -> (any Error)? {
        guard failure == nil, descriptor >= 0 else { return failure }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                failure = FileIO.Failure(description: "write failed: \(String(cString: strerror(errno)))")
                return failure
            }
            offset += written
        }
        size += bytes.count
        cache.wrote(upTo: size, descriptor: descriptor)
        return nil
    }

    /// Closes the file; the first write error, if any.
    func close() -> (any Error)? {
        guard descriptor >= 0 else { return failure }
        cache.finish(descriptor: descriptor)
        Glibc.close(descriptor)
        descriptor = -1
        return failure
    }
}
