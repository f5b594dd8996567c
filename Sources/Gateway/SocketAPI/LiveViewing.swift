import Synchronization
import GatewayCore
import JSON
import SocketIO

/// Live video to Socket.IO clients: `watch` {cameraId} sends `video:init` (the fMP4 init
/// segment and its codecs) then `video:fragment`s, each a binary attachment; `unwatch` stops.
/// A client that falls behind skips to the next keyframe; one that stops reading is disconnected.
struct LiveViewing {
    let cameras: CameraOperations
    let manager: CameraManager
    let events: EventBus
    /// In a cluster: cameras other nodes run, relayed from them.
    var relay: (cluster: ClusterService, feeds: ClusterLiveRelay)?

    /// A camera's live fMP4 for viewers: its own sink here, or the relay of the node that runs it.
    struct Feed: Sendable {
        let subscribe: @Sendable (String) -> HubReader<FragmentEvent>
        let viewerLimits: ViewerLimits
    }

    struct CameraReference: Decodable { let cameraId: String }

    /// Watchers of a camera are in its room; they get `camera:state` when its state changes.
    static func room(_ cameraID: String) -> String { "camera:\(cameraID)" }

    func install(on socket: SocketIOSocket, principal: Principal) {
        let watches = Mutex<[String: StopSignal]>([:])
        socket.on("watch") { arguments, ack in
            do {
                guard let argument = arguments.first?.plainJSON else { throw GatewayError.badRequest("an object argument is required") }
                let cameraID = try RequestBody.decode(CameraReference.self, from: argument).cameraId
                let provider = try await liveProvider(for: principal, cameraID: cameraID)
                let stop = StopSignal()
                let previous = watches.withLock { watches in
                    defer { watches[cameraID] = stop }
                    return watches[cameraID]
                }
                previous?.fire()
                socket.join(Self.room(cameraID))
                let reader = provider.subscribe("socketio:\(principal.username):\(socket.id)")
                let limits = provider.viewerLimits
                socket.spawn {
                    await forward(reader, to: socket, cameraID: cameraID, principal: principal, limits: limits, stop: stop)
                }
                ack?(.object(JSONObject([("success", .bool(true)), ("cameraId", .string(cameraID))])))
            } catch {
                ack?(SocketIOAnswer.failure(error))
            }
        }
        socket.on("unwatch") { arguments, ack in
            if let argument = arguments.first?.plainJSON, let reference = try? RequestBody.decode(CameraReference.self, from: argument) {
                watches.withLock { $0.removeValue(forKey: reference.cameraId) }?.fire()
                socket.leave(Self.room(reference.cameraId))
            }
            ack?(.object(JSONObject([("success", .bool(true))])))
        }
        socket.onDisconnect { _ in
            for stop in watches.withLock({ $0.values }) { stop.fire() }
        }
    }

    /// The camera's live fMP4, after the access decision (viewers and up).
    func liveProvider(for principal: Principal, cameraID: String) async throws -> Feed {
        let (record, _) = try await cameras.access.authorize(principal, cameraID: cameraID, for: .view)
        if let provider = manager.sink(of: cameraID, as: (any LiveFragmentProvider).self) {
            return Feed(subscribe: { provider.subscribe(viewer: $0) }, viewerLimits: provider.viewerLimits)
        }
        if let relay, manager.pipeline(id: cameraID) == nil, record.hasSink("websocket") {
            switch relay.cluster.placement(of: cameraID) {
            case .node(_, let url, _):
                return Feed(subscribe: { relay.feeds.subscribe(cameraID: cameraID, url: url, viewer: $0) }, viewerLimits: ViewerLimits())
            case .moving, .here:
                throw GatewayError(.streamUnavailable, "camera '\(cameraID)' is moving to another gateway node; try again in a moment", retryAfter: 1)
            }
        }
        throw GatewayError(.notStreamable, "camera '\(cameraID)' has no websocket sink")
    }

    private func forward(_ reader: HubReader<FragmentEvent>, to socket: SocketIOSocket, cameraID: String, principal: Principal,
                         limits: ViewerLimits, stop: StopSignal) async {
        let session = ViewingSession(events: events, kind: .live, actor: principal.username, camera: cameraID,
                                     details: JSONObject([("via", .string("socket.io"))]))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in reader {
                    switch event {
                    case .initSegment(let segment):
                        socket.emit("video:init", [.object([
                            ("cameraId", .string(cameraID)), ("codecs", .string(segment.codecs)), ("mimeType", .string(segment.mimeType)),
                            ("data", .binary(segment.bytes)),
                        ])])
                        session.add(bytes: segment.bytes.count)
                    case .fragment(let fragment):
                        guard await socket.connection.waitForRoom(maxBuffered: limits.maximumBuffered, timeout: limits.stallLimit) else {
                            socket.connection.close()
                            return
                        }
                        socket.emit("video:fragment", [.object([("cameraId", .string(cameraID))] + fragment.timing.dropFirst().map { ($0.0, .json($0.1)) }
                            + [("data", .binary(fragment.bytes))])])
                        session.add(bytes: fragment.bytes.count)
                    case .skipped(let count):
                        socket.emit("video:skipped", [.object([("cameraId", .string(cameraID)), ("fragments", .json(.int(count)))])])
                    }
                }
                // The camera's pipeline stopped (deleted, or restarted after a change): the
                // client may `watch` again.
                if !Task.isCancelled {
                    socket.emit("video:ended", [.object([("cameraId", .string(cameraID)), ("reason", .string("the camera's stream restarted"))])])
                }
            }
            group.addTask { await stop.wait() }
            group.addTask {
                await cameras.access.untilRevoked(principal, cameraID: cameraID)
                if !Task.isCancelled {
                    socket.leave(Self.room(cameraID))
                    socket.emit("video:revoked", [.object([("cameraId", .string(cameraID)), ("error", .string("access to this camera was revoked"))])])
                }
            }
            _ = await group.next()
            group.cancelAll()
        }
        reader.close()
        session.end()
    }
}

extension MP4Fragment {
    /// What a player is told about a fragment besides its bytes (`type` first, for the plain
    /// WebSocket's text frame; Socket.IO's `video:fragment` carries the rest).
    var timing: [(String, JSONValue)] {
        [("type", .string("fragment")), ("sequence", .int(sequence)), ("keyframe", .bool(isIndependent)),
         ("startTime", .double(startTime)), ("duration", .double(duration)),
         ("receivedAt", .double(receivedAt)), ("publishedAt", .double(publishedAt))]
    }
}
