#if canImport(Glibc)
import Glibc
import JSON
#endif
import GatewayCore
import Logging

/// The clipper's buffer and the clips being written, behind one actor.
actor ClipperState {
    private struct Job {
        let file: ClipFile
        var record: VideoRecord
        /// Media time (seconds, camera timeline) the clip ends at.
        let end: Double
        let triggerTime: Double
        /// The tap's sequence number of the last event the clip's pre-roll held: it takes the
        /// queued events after it.
        let after: Int
        /// Packets of the current batch, written in one I/O job at its end.
        var pending: [MediaPacket] = []
    }

    private let store: SinkStore
    private let configuration: ClipperSinkConfiguration
    /// The pre-roll, kept on the camera's thread.
    let tap: ClipTap
    private var jobs: [Job] = []
    /// Triggers between taking their pre-roll and adding their job: the tap keeps queueing.
    private var starting = 0

    init(store: SinkStore, configuration: ClipperSinkConfiguration) {
        self.store = store
        self.configuration = configuration
        tap = ClipTap(keepSeconds: configuration.preSeconds, maxBytes: configuration.maxBufferBytes)
    }

    deinit { store.io.shutdown() }

    /// What the tap queued for the clips in progress, in order; then stops the queueing when no
    /// clip is left.
    func drain() async {
        // A trigger between its pre-roll and its job: the events wait in the tap's queue until
        // its job is there to take them (it kicks the tap when done).
        guard starting == 0 else { return }
        for (sequence, event) in tap.takeQueued() {
            switch event {
            case .streams, .skipped:
                // A new source session (a clip's file cannot change codecs): the clips end here.
                await finish(where: { $0.after < sequence }, note: "ended early by a source restart")
            case .packet(let packet):
                await append(packet, sequence: sequence)
            }
        }
        for index in jobs.indices where !jobs[index].pending.isEmpty {
            submitPending(jobs[index])
            jobs[index].pending = []
        }
        if jobs.isEmpty, starting == 0 { tap.stopCollecting() }
    }

    private func submitPending(_ job: Job) {
        guard !job.pending.isEmpty else { return }
        let file = job.file, packets = job.pending
        store.io.submit { file.append(packets) }
    }

    private func append(_ packet: MediaPacket, sequence: Int) async {
        guard !jobs.isEmpty else { return }
        // The clips this packet ends (its post-roll is complete) are decided before any
        // suspension; the others take it.
        let ending = Set(jobs.filter { job in
            guard job.after < sequence, let time = packet.decodeSeconds else { return false }
            return time >= job.end && packet.kind == .video
        }.map(\.record.id))
        for index in jobs.indices where jobs[index].after < sequence && !ending.contains(jobs[index].record.id) {
            jobs[index].pending.append(packet)
        }
        await finish(where: { ending.contains($0.record.id) }, note: nil)
    }

    /// Takes the clips `ending` selects off the list (before any suspension: a trigger that
    /// runs meanwhile adds to it safely), then finishes each.
    private func finish(where ending: (Job) -> Bool, note: String?) async {
        let ended = jobs.filter(ending)
        guard !ended.isEmpty else { return }
        jobs.removeAll(where: ending)
        for job in ended { await finish(job, note: note) }
    }

    /// Clips still being written (their post-roll has not arrived).
    func pendingClips(actor: String?) -> Int {
        actor.map { actor in jobs.count { $0.record.createdBy == actor } } ?? jobs.count
    }

    /// Clips a previous run left `recording` (killed before it could finish them; their
    /// unfinished files are gone): FAILED with the reason, never left pending.
    func failInterrupted() async {
        var offset = 0
        while let (page, _) = try? await store.storage.videos(VideoQuery(cameraIDs: [store.cameraID], kind: .clip, offset: offset, limit: 500)), !page.isEmpty {
            for var record in page where record.status == .recording && !jobs.contains(where: { $0.record.id == record.id }) {
                record.status = .failed
                record.details["error"] = .string("the gateway stopped before the clip was finished")
                try? await store.storage.updateVideo(record)
            }
            offset += page.count
        }
    }

    /// The gateway is stopping: every clip in progress is finished with what it has.
    func finishAll(note: String, log: Bool = true) async {
        let ending = jobs
        jobs = []
        if log, !ending.isEmpty { store.logger.info("finishing clips in progress", metadata: ["clips": "\(ending.count)", "reason": "\(note)"]) }
        for job in ending { await finish(job, note: note) }
    }

    func trigger(pre: Double, post: Double, label: String?, actor: String?) async throws -> VideoRecord {
        // Whoever asked (REST, Socket.IO, the event bus), the clip stays within an hour each way.
        guard (0...3600).contains(pre), (0...3600).contains(post) else {
            throw GatewayError.badRequest("pre_seconds and post_seconds must be between 0 and 3600")
        }
        // A trigger right after the camera came online may come before its first keyframe: it
        // waits a little for one.
        let deadline = MonotonicTime.seconds() + 1.5
        while !tap.hasPicture, MonotonicTime.seconds() < deadline, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
        // From here until the job is added, the tap queues what arrives (`starting`), so the
        // clip has every packet after its pre-roll, once.
        starting += 1
        defer {
            starting -= 1
            tap.kick()
        }
        guard let start = tap.startClip(pre: pre) else {
            throw GatewayError(.noVideo, "camera '\(store.cameraID)' has no video to clip yet")
        }
        let streams = start.streams, now = start.newest, startPackets = start.packets
        let id = Identifier.make(prefix: "clip-")
        let path = store.directory + "/" + id + ".mp4"
        let wall = WallClock.now()
        let firstTime = startPackets.first?.decodeSeconds ?? now
        let component = store.cameraID
        let file = try await store.io.perform {
            ClipFile(writer: try ProgressiveMP4Writer(path: path + ".part", streams: streams, component: component), path: path)
        }
        store.io.submit { file.append(startPackets) }
        let record = VideoRecord(
            id: id, cameraID: store.cameraID, kind: .clip, status: .recording, path: path, start: wall - (now - firstTime), end: nil,
            size: 0, label: label, createdBy: actor, createdAt: wall,
            details: JSONObject([("trigger_time", .string(WallClock.iso8601(wall))), ("pre_seconds", .double(pre)), ("post_seconds", .double(post))]))
        try await store.storage.insertVideo(record)
        jobs.append(Job(file: file, record: record, end: now + post, triggerTime: wall, after: start.sequence))
        store.events.emit(GatewayEvent(name: "clip.triggered", actor: actor, camera: store.cameraID, details: JSONObject([
            ("video", .string(id)), ("pre_seconds", .double(pre)), ("post_seconds", .double(post)),
        ])))
        return record
    }

    private func finish(_ job: Job, note: String?) async {
        submitPending(job)
        do {
            let file = job.file, component = store.cameraID
            let (duration, size) = try await store.io.perform { try file.complete(component: component) }
            var record = job.record
            record.status = .ready
            record.end = (record.start ?? job.triggerTime) + duration
            record.size = size
            if let note {
                record.details["note"] = .string(note)
                record.details["truncated"] = .bool(true)
            }
            try await store.storage.updateVideo(record)
            store.events.emit(GatewayEvent(name: "clip.ready", actor: record.createdBy, camera: store.cameraID, details: JSONObject([
                ("video", .string(record.id)), ("duration", .double(duration)), ("size", .int(record.size)),
            ])))
        } catch {
            await fail(job, error: error)
        }
    }

    private func fail(_ job: Job, error: any Error) async {
        var record = job.record
        record.status = .failed
        record.details["error"] = .string("\(error)")
        try? await store.storage.updateVideo(record)
        let file = job.file
        store.io.submit { file.discard() }
        store.logger.error("clip failed", metadata: ["video": "\(record.id)", "error": "\(error)"])
        store.events.emit(GatewayEvent(name: "clip.failed", actor: record.createdBy, camera: store.cameraID, details: JSONObject([
            ("video", .string(record.id)), ("error", .string("\(error)")),
        ])))
    }
}

/// A clip's file while it is written. Touched only on the clipper's I/O thread (`IOQueue`), in
/// the order the jobs were queued; a failed append is kept and reported when the clip finishes.
private final class ClipFile: @unchecked Sendable {
    private let writer: ProgressiveMP4Writer
    private let path: String
    private var failure: (any Error)?

    init(writer: ProgressiveMP4Writer, path: String) {
        self.writer = writer
        self.path = path
    }

    func append(_ packets: [MediaPacket]) {
        guard failure == nil else { return }
        do {
            for packet in packets { try writer.append(packet) }
        } catch {
            failure = error
        }
    }

    /// Writes the index, moves the file into place; the media duration and the file's size.
    func complete(component: String) throws -> (Double, Int) {
        if let failure { throw failure }
        try writer.finish()
        guard rename(writer.path, path) == 0 else { throw MediaError(.mux, component: component, "cannot move the clip into place") }
        return (writer.duration, FileIO.size(path) ?? 0)
    }

    func discard() {
        FileIO.remove(writer.path)
    }
}
