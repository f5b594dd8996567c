import Synchronization
import GatewayCore
import JSON
import SocketIO

/// Seed 000's stored-video playback over Socket.IO: `playVideo` {videoId} sends `video:init`,
/// then the file as fMP4 `video:chunk`s (one per GOP), each sent only when the client has taken
/// the previous ones (flow control at the client's pace), then `video:end`. `stopVideo` stops.
/// A video is a stored clip, recording or upload (authorized through its camera), or a file
/// camera's own file (`camera:<id>`).
struct StoredPlayback {
    let cameras: CameraOperations
    let storage: any StorageBackend
    let events: EventBus
    /// Playbacks at once, in all and per user (`limits`).
    let slots: WorkSlots
    /// Bytes that may wait for the client before the next chunk is sent.
    static let window = 1 << 20

    struct VideoReference: Decodable { let videoId: String }

    func install(on socket: SocketIOSocket, principal: Principal) {
        let playing = Mutex<[String: StopSignal]>([:])
        socket.on("playVideo") { arguments, ack in
            do {
                guard let argument = arguments.first?.plainJSON else { throw GatewayError.badRequest("an object argument is required") }
                let videoID = try RequestBody.decode(VideoReference.self, from: argument).videoId
                let (path, cameraID) = try await resolve(videoID, for: principal)
                playing.withLock { $0.removeValue(forKey: videoID) }?.fire()
                let slot = try slots.acquire(for: principal, what: "playbacks")
                // Opened here (off the cooperative pool) so that a missing or unreadable file is
                // the caller's error, not a silent stream.
                let demuxer: Demuxer
                do {
                    demuxer = try await BlockingThread.run(name: "play:\(videoID)", onCancel: {}) { try Self.open(path) }
                } catch {
                    slot.release()
                    throw error
                }
                let stop = StopSignal()
                playing.withLock { $0[videoID] = stop }
                socket.spawn {
                    defer { slot.release() }
                    await play(demuxer, videoID: videoID, cameraID: cameraID, to: socket, principal: principal, stop: stop)
                }
                ack?(.object(JSONObject([("success", .bool(true)), ("videoId", .string(videoID)),
                                         ("duration", demuxer.duration.map { .double($0) } ?? .null)])))
            } catch {
                ack?(SocketIOAnswer.failure(error, otherwise: GatewayError(.unplayable, "the video cannot be played")))
            }
        }
        socket.on("stopVideo") { arguments, ack in
            if let argument = arguments.first?.plainJSON, let reference = try? RequestBody.decode(VideoReference.self, from: argument) {
                playing.withLock { $0.removeValue(forKey: reference.videoId) }?.fire()
            }
            ack?(.object(JSONObject([("success", .bool(true))])))
        }
        socket.onDisconnect { _ in
            for stop in playing.withLock({ $0.values }) { stop.fire() }
        }
    }

    static func open(_ path: String) throws -> Demuxer {
        do {
            return try Demuxer(url: path, options: .init(displayName: "video"))
        } catch {
            throw GatewayError(.unplayable, "the video cannot be opened")
        }
    }

    /// The file of `videoID` and its camera, after the access decision (viewers and up).
    func resolve(_ videoID: String, for principal: Principal) async throws -> (path: String, cameraID: String?) {
        if videoID.hasPrefix("camera:") {
            let cameraID = String(videoID.dropFirst("camera:".count))
            let (camera, _) = try await cameras.access.authorize(principal, cameraID: cameraID, for: .view)
            guard camera.source["type"] == .string("file"), case .string(let path)? = camera.source["path"] else {
                throw GatewayError(.notAFile, "camera '\(cameraID)' is live; watch it instead")
            }
            let resolved = cameras.manager.resolvePath(path)
            return (resolved, cameraID)
        }
        let video = try await cameras.access.authorize(principal, videoID: videoID, for: .view)
        return (video.path, video.cameraID)
    }

    private func play(_ demuxer: Demuxer, videoID: String, cameraID: String?, to socket: SocketIOSocket, principal: Principal, stop: StopSignal) async {
        let session = ViewingSession(events: events, kind: .playback, actor: principal.username, camera: cameraID,
                                     details: JSONObject([("video", .string(videoID)), ("via", .string("socket.io"))]))
        defer { session.end() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var sent = 0
                do {
                    let writer = try FragmentedMP4Writer(streams: demuxer.streams, component: videoID)
                    socket.emit("video:init", [.object([
                        ("videoId", .string(videoID)), ("codecs", .string(demuxer.streams.codecs)),
                        ("mimeType", .string(MP4InitSegment(bytes: [], codecs: demuxer.streams.codecs, generation: 0).mimeType)),
                        ("data", .binary(writer.initSegment)),
                    ])])
                    let remux = Remux(demuxer: demuxer, writer: writer)
                    // The file is read and remuxed on a thread of its own, a few GOPs ahead of the client.
                    let complete = try await BoundedHandoff<MP4Fragment>.pump(name: "play:\(videoID)", capacity: 2) { send in
                        while let packet = try remux.demuxer.read() {
                            if let fragment = try remux.writer.append(packet) { try send(fragment) }
                        }
                        if let last = try remux.writer.finish() { try send(last) }
                    } consume: { fragment in
                        guard await socket.connection.waitForRoom(maxBuffered: Self.window, timeout: .seconds(60)), !Task.isCancelled else { return false }
                        socket.emit("video:chunk", [.object([
                            ("videoId", .string(videoID)), ("sequence", .json(.int(fragment.sequence))),
                            ("start", .json(.double(fragment.startTime))), ("duration", .json(.double(fragment.duration))),
                            ("data", .binary(fragment.bytes)),
                        ])])
                        session.add(bytes: fragment.bytes.count)
                        sent += 1
                        return true
                    }
                    if complete {
                        socket.emit("video:end", [.object([("videoId", .string(videoID)), ("chunks", .json(.int(sent)))])])
                    }
                } catch {
                    if !Task.isCancelled {
                        socket.emit("video:error", [.object([("videoId", .string(videoID)), ("error", .string("the video cannot be played"))])])
                    }
                }
            }
            group.addTask { await stop.wait() }
            group.addTask {
                // Playback ends when the caller may no longer see the video (grant revoked or expired).
                await cameras.access.untilRevoked(principal) { current in _ = try await resolve(videoID, for: current) }
                if !Task.isCancelled {
                    socket.emit("video:error", [.object([("videoId", .string(videoID)), ("error", .string("access to this video was revoked"))])])
                }
            }
            _ = await group.next()
            group.cancelAll()
        }
    }
}

/// A file's demuxer and the writer remuxing it, handed to the one thread that uses them.
private struct Remux: @unchecked Sendable {
    let demuxer: Demuxer
    let writer: FragmentedMP4Writer
}
