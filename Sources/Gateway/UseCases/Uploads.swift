import Foundation
import GatewayCore
import JSON
import Logging
import ServiceLifecycle
import Synchronization

/// Uploaded videos, from a received file to `ready` (or `failed`): the file is probed (415 for
/// what is not video), checked against the owner's quota, recorded as `processing` and queued;
/// a bounded pool of workers (`uploads.workers`, each on a thread of its own) packages it with
/// `VODPackager` into `data_dir/videos/{id}/` (MP4, HLS, thumbnail), keeping the progress on the
/// video, then marks it `ready` with its metadata or `failed` with a reason. The received file
/// is always removed. Uploads found `processing` at start are processed again from their file,
/// or marked `failed` when it is gone: none stays stuck. The routes and `gateway import` share it.
public final class Uploads: Service, Sendable {
    let storage: any StorageBackend
    let events: EventBus
    let access: AccessControl
    let configuration: UploadsConfig
    let dataDirectory: String
    let logger: Logger
    private let queue: AsyncStream<String>
    private let queued: AsyncStream<String>.Continuation

    public init(storage: any StorageBackend, events: EventBus, access: AccessControl, configuration: UploadsConfig, dataDirectory: String,
                logger: Logger) {
        self.storage = storage
        self.events = events
        self.access = access
        self.configuration = configuration
        self.dataDirectory = dataDirectory
        self.logger = logger
        (queue, queued) = AsyncStream.makeStream(of: String.self)
    }

    /// Where received files wait: `data_dir/uploads` (`tmp/` while they arrive).
    public var incomingDirectory: String { dataDirectory + "/uploads" }
    public func videoDirectory(_ id: String) -> String { dataDirectory + "/videos/" + id }
    func sourcePath(_ id: String) -> String { incomingDirectory + "/" + id + ".source" }

    /// A new file name for bytes on their way in.
    public func temporaryPath() throws -> String {
        try FileIO.makeDirectory(incomingDirectory + "/tmp")
        return incomingDirectory + "/tmp/" + Identifier.make(prefix: "in-")
    }

    /// 413 when `owner` may not keep `bytes` more (admins have no quota).
    public func checkQuota(_ owner: Principal, adding bytes: Int) async throws {
        guard configuration.quotaBytes > 0, !owner.isAdmin else { return }
        let used = try await storage.storedBytes(createdBy: owner.username, kind: .upload)
        let (total, overflow) = used.addingReportingOverflow(bytes)
        if overflow || total > configuration.quotaBytes {
            throw GatewayError(.quotaExceeded, "this upload (\(Self.megabytes(bytes))) would exceed your quota: "
                               + "\(Self.megabytes(used)) of \(Self.megabytes(configuration.quotaBytes)) used")
        }
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }

    /// Takes the received file at `path`: checks it, records the video as `processing` and
    /// queues it. `path` is gone afterwards, whatever happens.
    public func accept(file path: String, owner: Principal, cameraID: String?, title: String?, originalName: String?) async throws -> VideoRecord {
        do {
            if let cameraID { _ = try await access.authorize(owner, cameraID: cameraID, for: .operate) }
            let size = FileIO.size(path) ?? 0
            guard size > 0 else { throw GatewayError(.unsupportedMedia, "the uploaded file is empty") }
            try await checkQuota(owner, adding: size)
            let probe = try await BlockingThread.run(name: "upload-probe", onCancel: {}) { VODPackager.probe(path) }
            let found: VODPackager.Probe
            switch probe {
            case .success(let value): found = value
            case .failure(let error):
                throw GatewayError(.unsupportedMedia, "the file is not a video the gateway can read (\(error.reason))")
            }
            let id = Identifier.make(prefix: "upl-")
            var details = JSONObject([("progress", .int(0)), ("original_size", .int(size)), ("format", .string(found.format)),
                                      ("source_codecs", .string(([found.videoCodec] + [found.audioCodec].compactMap { $0 }).joined(separator: "+")))])
            if let originalName { details["original_name"] = .string(String(originalName.prefix(255))) }
            try FileIO.makeDirectory(incomingDirectory)
            guard rename(path, sourcePath(id)) == 0 else { throw GatewayError(.internal, "cannot keep the uploaded file") }
            let record = VideoRecord(id: id, cameraID: cameraID, kind: .upload, status: .processing,
                                     path: videoDirectory(id) + "/" + VODPackager.mp4Name, start: nil, end: nil, size: size,
                                     label: title.map { String($0.prefix(200)) }, createdBy: owner.username, createdAt: WallClock.now(), details: details)
            do {
                try await storage.insertVideo(record)
            } catch {
                FileIO.remove(sourcePath(id))
                throw error
            }
            events.emit(GatewayEvent(name: "video.uploaded", actor: owner.username, camera: cameraID, details: JSONObject([
                ("video", .string(id)), ("size", .int(size)), ("format", .string(found.format)),
            ])))
            queued.yield(id)
            return record
        } catch {
            FileIO.remove(path)
            throw error
        }
    }

    /// Workers take queued uploads until shutdown; first the ones a previous run left `processing`.
    /// Files a previous run was receiving are removed at start, and expired resumable uploads
    /// then and every hour.
    public func run() async throws {
        removeAbandoned()
        do {
            try await resumeInterrupted()
        } catch {
            logger.error("interrupted uploads could not be looked up; they are resumed at the next start", metadata: ["error": "\(error)"])
        }
        let workers = configuration.workers
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    while (try? await Task.sleep(for: .seconds(3600))) != nil { self.removeExpiredResumables() }
                }
                // One reader of the queue (an AsyncStream has one), at most `workers` uploads at once.
                await withTaskGroup(of: Void.self) { group in
                    var running = 0
                    for await id in self.queue {
                        if running >= workers {
                            await group.next()
                            running -= 1
                        }
                        if Task.isCancelled { return }
                        group.addTask { await self.process(id) }
                        running += 1
                    }
                }
                tasks.cancelAll()
            }
        }
    }

    /// At start: bodies a previous run was receiving when it stopped (`tmp/in-*`: nobody can
    /// finish them) and expired resumable uploads. Resumable ones still open stay.
    func removeAbandoned() {
        let directory = incomingDirectory + "/tmp"
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("in-") {
            FileIO.remove(directory + "/" + name)
            removed += 1
        }
        if removed > 0 { logger.notice("removed files of uploads a previous run was receiving", metadata: ["files": "\(removed)"]) }
        removeExpiredResumables()
    }

    /// Removes resumable uploads older than `resumable_hours`; returns the ones still open.
    @discardableResult
    func removeExpiredResumables() -> [UploadRoutes.Resumable] {
        let directory = incomingDirectory + "/tmp"
        let oldest = WallClock.now() - configuration.resumableHours * 3600
        var open: [UploadRoutes.Resumable] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let bytes = try? FileIO.read(path), let state = try? JSONDecoder().decode(UploadRoutes.Resumable.self, from: Data(bytes)),
                  state.createdAt >= oldest else {
                FileIO.remove(path)
                FileIO.remove(String(path.dropLast(5)) + ".part")
                continue
            }
            open.append(state)
        }
        return open
    }

    /// Uploads left `processing` (the gateway stopped or crashed while they were packaged): queued
    /// again when their file is still here, `failed` otherwise.
    func resumeInterrupted() async throws {
        var offset = 0
        var interrupted: [VideoRecord] = []
        while true {
            let page = try await storage.videos(VideoQuery(kind: .upload, offset: offset, limit: 100)).videos
            interrupted += page.filter { $0.status == .processing }
            if page.count < 100 { break }
            offset += 100
        }
        for video in interrupted.sorted(by: { $0.createdAt < $1.createdAt }) {
            if FileIO.size(sourcePath(video.id)) != nil {
                logger.notice("resuming an upload interrupted by a restart", metadata: ["video": "\(video.id)"])
                queued.yield(video.id)
            } else {
                await fail(video, reason: "processing was interrupted and the uploaded file is gone; upload it again")
            }
        }
    }

    /// Packages upload `id` now; `progress` (0...1) is also called on the worker thread.
    public func process(_ id: String, progress report: @escaping @Sendable (Double) -> Void = { _ in }) async {
        guard var video = try? await storage.video(id: id), video.status == .processing else {
            FileIO.remove(sourcePath(id))
            return
        }
        let source = sourcePath(id)
        let directory = videoDirectory(id)
        defer { FileIO.remove(source) }
        logger.info("processing an upload", metadata: ["video": "\(id)"])
        let progress = ProgressBox()
        let interruption = Interruption()
        let logger = logger
        let segmentSeconds = configuration.segmentSeconds
        let outcome: Result<VODPackager.Result, any Error> = await withTaskGroup(of: Result<VODPackager.Result, any Error>?.self) { group in
            group.addTask {
                do {
                    return .success(try await BlockingThread.run(name: "upload-\(id)", onCancel: { interruption.cancel() }) {
                        try VODPackager.package(input: source, directory: directory, segmentSeconds: segmentSeconds, interruption: interruption,
                                                logger: logger) { fraction in
                            progress.value.withLock { $0 = fraction }
                            report(fraction)
                        }
                    })
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // The progress on the video and as events, at most once a second.
                var shown = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let percent = Int(progress.value.withLock { $0 } * 100)
                    guard percent > shown, percent < 100 else { continue }
                    shown = percent
                    await self.showProgress(id, percent: percent)
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        // Deleted while it was processed: nothing to keep.
        guard let current = try? await storage.video(id: id) else {
            FileIO.removeTree(directory)
            return
        }
        video = current
        switch outcome {
        case .success(let result):
            video.status = .ready
            video.size = result.mp4Bytes
            video.start = video.createdAt
            video.end = video.createdAt + result.duration
            video.details["progress"] = .int(100)
            video.details["duration"] = .double((result.duration * 1000).rounded() / 1000)
            video.details["video_codec"] = .string(result.videoCodec)
            if let audio = result.audioCodec { video.details["audio_codec"] = .string(audio) }
            video.details["width"] = .int(result.width)
            video.details["height"] = .int(result.height)
            video.details["segments"] = .int(result.segments)
            video.details["thumbnail"] = .object(JSONObject([("width", .int(result.thumbnailWidth)), ("height", .int(result.thumbnailHeight))]))
            if let from = result.transcodedFrom { video.details["transcoded_from"] = .string(from) }
            do {
                try await storage.updateVideo(video)
                events.emit(GatewayEvent(name: "video.ready", actor: video.createdBy, camera: video.cameraID, details: JSONObject([
                    ("video", .string(id)), ("duration", video.details["duration"] ?? .null), ("size", .int(result.mp4Bytes)),
                ])))
                logger.info("upload ready", metadata: ["video": "\(id)", "duration": "\(result.duration)", "transcoded": "\(result.transcodedFrom ?? "no")"])
            } catch {
                logger.error("an upload was processed but cannot be marked ready", metadata: ["video": "\(id)", "error": "\(error)"])
            }
        case .failure(let error):
            if error is CancellationError || (error as? MediaError)?.code == .cancelled {
                // The gateway is stopping: the file stays for the next start (see `resumeInterrupted`).
                return
            }
            FileIO.removeTree(directory)
            await fail(video, reason: Self.reason(error))
        }
    }

    private func showProgress(_ id: String, percent: Int) async {
        guard var video = try? await storage.video(id: id), video.status == .processing else { return }
        video.details["progress"] = .int(percent)
        try? await storage.updateVideo(video)
        events.emit(GatewayEvent(name: "video.progress", actor: video.createdBy, camera: video.cameraID,
                                 details: JSONObject([("video", .string(id)), ("progress", .int(percent))])))
    }

    private func fail(_ video: VideoRecord, reason: String) async {
        var video = video
        video.status = .failed
        video.details["error"] = .string(reason)
        try? await storage.updateVideo(video)
        events.emit(GatewayEvent(name: "video.failed", actor: video.createdBy, camera: video.cameraID,
                                 details: JSONObject([("video", .string(video.id)), ("error", .string(reason))])))
        logger.warning("upload failed", metadata: ["video": "\(video.id)", "reason": "\(reason)"])
    }

    /// What a user reads when processing failed.
    static func reason(_ error: any Error) -> String {
        if let media = error as? MediaError { return "the video cannot be processed: \(media.reason)" }
        return "the video cannot be processed: \(error)"
    }
}

private final class ProgressBox: Sendable {
    let value = Mutex<Double>(0)
}
