import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import GatewayCore
import JSON

/// This process as one node of a cluster (docs/scale-out.md). Every `heartbeat_seconds`, and at
/// once when another node says something changed, it:
/// 1. renews its heartbeat (with its cameras' states) on its lock session and reads the nodes
///    and the locks;
/// 2. ends the session of a node whose heartbeat is older than `lease_seconds` (a hung node):
///    its locks go, so its cameras can move;
/// 3. ranks the live nodes that are not draining for each camera (weighted rendezvous hashing,
///    the same ranking on every node) and takes the lock of each camera it ranks first for, or
///    of any camera nobody has held for `lease_seconds / 2`; starts what it takes;
/// 4. gives a camera back when the node ranked first for it has been live a while
///    (`rebalance`), when it is draining, or when the camera is gone; restarts a camera whose
///    stored definition changed.
/// A failure of the lock session stops every camera here at once (fencing): another node may
/// hold their locks a moment later. Camera events are relayed to every node (NOTIFY); those of
/// the others are given to this process's observers (event streams, Socket.IO, revocations).
public final class ClusterService: Service, Sendable {
    let config: ClusterConfig
    let backend: any ClusterBackend
    let storage: any StorageBackend
    let manager: CameraManager
    let events: EventBus
    let access: AccessControl
    let logger: Logger
    /// Set once the HTTP server listens (the advertised URL may need its port).
    private let advertised = Mutex<String?>(nil)
    private let state = Mutex(State())
    private let kicks = AccessChanges()
    private let outbox: AsyncStream<String>
    private let outboxContinuation: AsyncStream<String>.Continuation
    private let ownedGauge: Gauge
    private let liveNodesGauge: Gauge
    private let movesCounter: Counter
    private let fencesCounter: Counter

    struct State {
        var joined = false
        /// The lock session of this node, as the snapshot says.
        var session: Int?
        /// Camera id → its lock key, for every camera whose lock this node holds.
        var owned: [String: Int64] = [:]
        var snapshot: ClusterSnapshot?
        var draining = false
        var leaving = false
        /// When each camera was first seen without a holder (monotonic seconds).
        var unheldSince: [String: Double] = [:]
        var records: [CameraRecord] = []
        var recordsReadAt = -Double.infinity
        var recordsStale = true
        /// Ids of events this node got from the others (not relayed again).
        var relayed: Set<String> = []
        var relayedOrder: [String] = []
        /// When the last heartbeat succeeded (monotonic seconds): the watchdog fences a node
        /// whose loop is stuck longer than `lease_seconds / 2`.
        var lastHeartbeat = -Double.infinity
        /// Whether this process joined once (a later join, after a fence, keeps a drain).
        var joinedBefore = false
        /// Cameras whose start failed here: not taken again until then (monotonic seconds).
        var failedUntil: [String: Double] = [:]
        /// A camera changed here but runs elsewhere: tell the others once, at the next tick.
        var camerasChangedHere = false
    }

    init(config: ClusterConfig, backend: any ClusterBackend, storage: any StorageBackend, manager: CameraManager, events: EventBus,
         access: AccessControl, metrics: any MetricsFactory, logger: Logger) {
        self.config = config
        self.backend = backend
        self.storage = storage
        self.manager = manager
        self.events = events
        self.access = access
        var logger = logger
        logger[metadataKey: "component"] = "cluster"
        self.logger = logger
        (outbox, outboxContinuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(4096))
        ownedGauge = Gauge(label: "gateway_cluster_cameras_owned", factory: metrics)
        liveNodesGauge = Gauge(label: "gateway_cluster_nodes_live", factory: metrics)
        movesCounter = Counter(label: "gateway_cluster_camera_moves_total", factory: metrics)
        fencesCounter = Counter(label: "gateway_cluster_fences_total", factory: metrics)
        if let url = config.advertiseURL.flatMap(ClusterConfig.baseURL) { advertised.withLock { $0 = url } }
        manager.place(by: CameraManager.Placement(
            owns: { [weak self] id in self?.state.withLock { $0.owned[id] != nil } ?? false },
            changed: { [weak self] _ in self?.camerasChanged(tellOthers: true) }))
        events.observe { [weak self] event in self?.relay(event) }
    }

    public var nodeID: String { config.nodeID }

    /// The HTTP server listens on `port`: the advertised URL is known.
    func serverRunning(host: String, port: Int) {
        advertised.withLock { url in
            guard url == nil else { return }
            let name = host == "0.0.0.0" || host == "::" ? ClusterConfig.hostName : host
            url = "http://\(name.contains(":") ? "[\(name)]" : name):\(port)"
        }
        kicks.notify()
    }

    // MARK: Where cameras are

    /// Where camera `id` runs now.
    enum Placement: Equatable {
        case here
        case node(id: String, url: String, publicURL: String)
        /// Between owners (a node died, a handover): ask again in a moment.
        case moving
    }

    func placement(of cameraID: String) -> Placement {
        state.withLock { state in
            if state.owned[cameraID] != nil { return .here }
            guard let owner = state.snapshot?.owner(of: cameraID), owner.id != config.nodeID else { return .moving }
            return .node(id: owner.id, url: owner.url, publicURL: owner.publicURL)
        }
    }

    /// The nodes whose lock session is open, with the cameras each holds.
    func liveNodes() async throws -> [(node: ClusterNodeRecord, cameras: [String], isSelf: Bool)] {
        let snapshot = try await backend.snapshot()
        let records = try await storage.cameras()
        var byNode: [String: [String]] = [:]
        for record in records {
            if let owner = snapshot.owner(of: record.id) { byNode[owner.id, default: []].append(record.id) }
        }
        return snapshot.nodes.filter { snapshot.isSessionOpen($0) }.map { ($0, (byNode[$0.id] ?? []).sorted(), $0.id == config.nodeID) }
    }

    func setDraining(nodeID: String, _ draining: Bool) async throws -> Bool {
        let found = try await backend.setDraining(nodeID: nodeID, draining)
        if found { try? await backend.notify(Self.kickMessage(from: config.nodeID)) }
        return found
    }

    // MARK: Running

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.listen() }
            group.addTask { await self.sendRelayed() }
            group.addTask { await self.watchdog() }
            await cancelWhenGracefulShutdown { await self.loop() }
            // Shutting down: hand the cameras over, then leave.
            await self.handOver()
            self.outboxContinuation.finish()
            group.cancelAll()
        }
    }

    /// Fences the node when its loop has not renewed the heartbeat for `lease_seconds / 2`,
    /// whatever it is waiting for: the others may take its cameras after `lease_seconds`.
    private func watchdog() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let stale = state.withLock { $0.joined && MonotonicTime.seconds() - $0.lastHeartbeat > config.leaseSeconds / 2 }
            if stale, !Task.isCancelled {
                await fence(because: StorageError(.unavailable, component: "cluster",
                                                  "no heartbeat for more than \(config.leaseSeconds / 2) s"))
            }
        }
    }

    private func loop() async {
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
        var random = SystemRandomNumberGenerator()
        let interval = Duration.milliseconds(Int64(config.heartbeatSeconds * 1000))
        while !Task.isCancelled {
            let generation = kicks.generation
            do {
                try await tick()
                backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
                await kicks.wait(after: generation, timeout: interval)
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                await fence(because: error)
                let delay = backoff.nextDelay(using: &random)
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// One look at the cluster: heartbeat, then take, keep or give back each camera.
    private func tick() async throws {
        guard let url = advertised.withLock({ $0 }) else { return }
        if !state.withLock({ $0.joined }) {
            try await join(url: url)
        }
        let snapshot = try await backend.heartbeat(states: localStates())
        let now = MonotonicTime.seconds()
        state.withLock { $0.lastHeartbeat = now }
        let me = config.nodeID
        guard let selfRecord = snapshot.nodes.first(where: { $0.id == me }), snapshot.isSessionOpen(selfRecord) else {
            throw StorageError(.unavailable, component: "cluster", "this node's lock session no longer holds its node lock")
        }
        let live = snapshot.nodes.filter { snapshot.isSessionOpen($0) && $0.heartbeatAge <= config.leaseSeconds }
        liveNodesGauge.record(live.count)
        // A node whose session is open but whose heartbeat stopped (hung, or cut off from the
        // database with its socket still open): end its session so that its cameras can move.
        for node in snapshot.nodes where node.id != me && snapshot.isSessionOpen(node) && node.heartbeatAge > config.leaseSeconds {
            logger.warning("ending the session of a node whose heartbeat stopped", metadata: [
                "node": "\(node.id)", "heartbeat_age": "\(Int(node.heartbeatAge))"])
            Task { [backend] in try? await backend.terminate(session: node.lockSession) }
        }
        // Pipelines here whose lock this node does not hold (a start that raced a release): stop them.
        let owned = state.withLock { $0.owned }
        for pipeline in manager.all where owned[pipeline.id] == nil {
            logger.warning("stopping a camera this node does not own", metadata: ["camera": "\(pipeline.id)"])
            manager.stop(id: pipeline.id)
        }
        if state.withLock({ state in defer { state.camerasChangedHere = false }; return state.camerasChangedHere }) {
            outboxContinuation.yield(Self.kickMessage(from: me, kind: "cameras"))
        }
        let records = await cameraRecords(now: now)
        let (draining, leaving) = state.withLock { state in
            state.snapshot = snapshot
            state.session = selfRecord.lockSession
            state.draining = selfRecord.draining
            return (state.draining, state.leaving)
        }
        let candidates = live.filter { !$0.draining }
        var remote: [String: RemoteCameras.Entry] = [:]
        var ownedCount = state.withLock { $0.owned.count }
        var moved = 0
        let maxMovesPerTick = max(4, ownedCount / 10)
        let known = Set(records.map(\.id))

        // Cameras that are gone, or whose lock this session no longer holds: stop them.
        for (id, key) in state.withLock({ $0.owned }) {
            if !known.contains(id) {
                await release(id, key: key, reason: "the camera was removed")
                ownedCount -= 1
            } else if snapshot.locks[key] != selfRecord.lockSession {
                logger.error("lost the lock of a camera; stopping it", metadata: ["camera": "\(id)"])
                stopLocally(id)
                ownedCount -= 1
            }
        }

        for record in records {
            let id = record.id
            let key = ClusterKeys.camera(id)
            let ranking = candidates.sorted {
                ClusterKeys.score(camera: id, node: $0.id, weight: $0.weight) > ClusterKeys.score(camera: id, node: $1.id, weight: $1.weight)
            }
            let preferred = ranking.first
            let holder = snapshot.locks[key]
            if state.withLock({ $0.owned[id] != nil }) {
                if draining || leaving {
                    await release(id, key: key, reason: "this node is draining")
                    ownedCount -= 1
                } else if config.rebalance, let preferred, preferred.id != me, moved < maxMovesPerTick,
                          preferred.heartbeatAt - preferred.startedAt >= config.leaseSeconds,
                          snapshot.camerasHeld(by: preferred) < preferred.maxCameras {
                    // The node ranked first for it has been live a while: give it back.
                    await release(id, key: key, reason: "node '\(preferred.id)' ranks first for it")
                    ownedCount -= 1
                    moved += 1
                } else {
                    reconcile(record)
                }
                continue
            }
            if let holder, let owner = snapshot.nodes.first(where: { $0.lockSession == holder && snapshot.isSessionOpen($0) }) {
                state.withLock { _ = $0.unheldSince.removeValue(forKey: id) }
                // Still held here while its pipeline ends (`release`): not someone else's.
                if owner.id == me { continue }
                let entry = owner.states[id]
                remote[id] = RemoteCameras.Entry(node: owner.id, url: owner.url,
                                                 state: entry?["state"].flatMap(Self.string).flatMap(CameraState.init(rawValue:)) ?? .starting,
                                                 lastError: entry?["error"].flatMap(Self.string),
                                                 lastPublicError: entry?["public_error"].flatMap(Self.string))
                continue
            }
            guard holder == nil, !draining, !leaving, ownedCount < config.maxCameras,
                  state.withLock({ ($0.failedUntil[id] ?? 0) <= now }) else { continue }
            let since = state.withLock { state in
                if let since = state.unheldSince[id] { return since }
                state.unheldSince[id] = now
                return now
            }
            let first = preferred?.id == me
            guard first || now - since >= config.leaseSeconds / 2 else { continue }
            if try await backend.tryLock(key) {
                state.withLock { state in
                    state.owned[id] = key
                    state.unheldSince[id] = nil
                }
                ownedCount += 1
                movesCounter.increment()
                logger.notice("camera taken", metadata: ["camera": "\(id)", "ranked_first": "\(first)"])
                do {
                    try manager.start(record)
                } catch {
                    // Another node may be able to (a different plugin set or policy); this one tries again in 30 s.
                    logger.error("camera cannot start here; giving it back", metadata: ["camera": "\(id)", "error": "\(error)"])
                    state.withLock { state in
                        state.owned[id] = nil
                        state.failedUntil[id] = now + 30
                    }
                    ownedCount -= 1
                    try await backend.unlock(key)
                }
                outboxContinuation.yield(Self.kickMessage(from: me))
            }
        }
        manager.remote.replaceAll(remote)
        ownedGauge.record(ownedCount)
    }

    private func join(url: String) async throws {
        let first = state.withLock { !$0.joinedBefore }
        try await backend.join(ClusterNodeInfo(id: config.nodeID, url: url, publicURL: config.publicURL.flatMap(ClusterConfig.baseURL), weight: config.weight, maxCameras: config.maxCameras), fresh: first)
        state.withLock { state in
            state.joined = true
            state.joinedBefore = true
            state.lastHeartbeat = MonotonicTime.seconds()
        }
        logger.notice("joined the cluster", metadata: ["node": "\(config.nodeID)", "url": "\(url)", "weight": "\(config.weight)"])
        outboxContinuation.yield(Self.kickMessage(from: config.nodeID))
    }

    /// The stored cameras: read again when something changed, and at least every 10 s.
    private func cameraRecords(now: Double) async -> [CameraRecord] {
        let (stale, cached) = state.withLock { state in
            (state.recordsStale || now - state.recordsReadAt > 10, state.records)
        }
        guard stale else { return cached }
        state.withLock { $0.recordsStale = false }
        do {
            let records = try await storage.cameras()
            state.withLock { state in
                state.records = records
                state.recordsReadAt = now
            }
            return records
        } catch {
            // The pool, not the lock session, failed: go on with the list last read.
            logger.warning("cannot read the cameras; using the list last read", metadata: ["error": "\(error)"])
            state.withLock { $0.recordsStale = true }
            return cached
        }
    }

    /// A camera this node runs whose stored definition changed: restart what changed.
    private func reconcile(_ record: CameraRecord) {
        guard let running = manager.pipeline(id: record.id)?.record else {
            return
        }
        guard running.source != record.source || running.sourceTrust != record.sourceTrust || running.sinks != record.sinks
            || running.name != record.name || running.owner != record.owner else { return }
        do {
            if running.source == record.source, running.sourceTrust == record.sourceTrust, try manager.applySinks(record) != nil { return }
            try manager.start(record)
        } catch {
            logger.error("changed camera cannot start", metadata: ["camera": "\(record.id)", "error": "\(error)"])
        }
    }

    /// Stops camera `id` here, then — once its pipeline has ended (its source closed: a camera
    /// that allows one session at a time is free for the next owner), at most 3 s — gives its
    /// lock back and tells the others. The loop goes on meanwhile.
    private func release(_ id: String, key: Int64, reason: String) async {
        let pipeline = stopLocally(id)
        logger.notice("camera given back", metadata: ["camera": "\(id)", "reason": "\(reason)"])
        Task { [backend, outboxContinuation, nodeID = config.nodeID] in
            await pipeline?.ended(within: .seconds(3))
            // A failed unlock means the session failed: the next heartbeat fences.
            try? await backend.unlock(key)
            outboxContinuation.yield(Self.kickMessage(from: nodeID))
        }
    }

    @discardableResult
    private func stopLocally(_ id: String) -> CameraPipeline? {
        state.withLock { _ = $0.owned.removeValue(forKey: id) }
        return manager.stop(id: id)
    }

    /// The lock session failed: its locks may be someone else's any moment, so every camera
    /// here stops now; the node joins again with a new session.
    private func fence(because error: any Error) async {
        let owned = state.withLock { state in
            defer {
                state.owned = [:]
                state.joined = false
                state.snapshot = nil
            }
            return state.joined ? Array(state.owned.keys) : nil
        }
        guard let owned else {
            logger.warning("cannot join the cluster; retrying", metadata: ["error": "\(error)"])
            return
        }
        fencesCounter.increment()
        logger.error("the lock session failed: stopping this node's cameras", metadata: ["error": "\(error)", "cameras": "\(owned.count)"])
        for id in owned { manager.stop(id: id) }
        manager.remote.replaceAll([:])
        ownedGauge.record(0)
        await backend.leave()
    }

    /// At shutdown: mark this node draining, stop each camera and give its lock back at once
    /// (the others take it on the notification), then close the session.
    private func handOver() async {
        let owned = state.withLock { state in
            state.leaving = true
            return state.joined ? state.owned : [:]
        }
        if state.withLock({ $0.joined }) { _ = try? await backend.setDraining(nodeID: config.nodeID, true) }
        // All stop at once; each lock goes back as soon as its camera has ended (at most 3 s).
        let stopping = owned.map { ($0.value, stopLocally($0.key)) }
        await withTaskGroup(of: Void.self) { group in
            for (key, pipeline) in stopping {
                group.addTask { [backend] in
                    await pipeline?.ended(within: .seconds(3))
                    try? await backend.unlock(key)
                }
            }
        }
        if !owned.isEmpty {
            logger.notice("cameras handed over", metadata: ["cameras": "\(owned.count)"])
            try? await backend.notify(Self.kickMessage(from: config.nodeID))
        }
        await backend.leave()
        state.withLock { $0.joined = false }
    }

    private func localStates() -> JSONValue {
        var object = JSONObject()
        for id in state.withLock({ $0.owned.keys.sorted() }) {
            guard let status = manager.pipeline(id: id)?.supervisor.currentStatus else { continue }
            var entry = JSONObject([("state", .string(status.state.rawValue))])
            if let error = status.lastError { entry["error"] = .string(String(error.prefix(200))) }
            if let error = status.lastPublicError { entry["public_error"] = .string(String(error.prefix(200))) }
            object[id] = .object(entry)
        }
        return .object(object)
    }

    // MARK: Cluster messages

    /// The stored cameras changed: read them again now. `tellOthers`: a camera was changed or
    /// removed here but runs elsewhere (or nowhere yet) — e.g. by a reload of this node's
    /// plugins.json — so every node reads them again too.
    private func camerasChanged(tellOthers: Bool = false) {
        state.withLock { $0.recordsStale = true }
        kicks.notify()
        if tellOthers { state.withLock { $0.camerasChangedHere = true } }
    }

    /// `kick`: look at the cluster now; `cameras`: read the stored cameras again, then look.
    static func kickMessage(from node: String, kind: String = "kick") -> String {
        JSONWriter.string(.object(JSONObject([("node", .string(node)), ("kind", .string(kind))])))
    }

    /// Events that change who may see what, or which cameras exist.
    static let accessEvents: Set<String> = ["camera.shared", "camera.unshared", "camera.updated", "camera.deleted", "camera.created",
                                            "user.role_changed", "user.deleted"]

    /// Sends this node's events to the others (not those it got from them).
    private func relay(_ event: GatewayEvent) {
        let fromElsewhere = state.withLock { $0.relayed.contains(event.id) }
        guard !fromElsewhere else { return }
        if Self.accessEvents.contains(event.name) { camerasChanged() }
        var object = JSONObject([("node", .string(config.nodeID)), ("kind", .string("event")), ("id", .string(event.id)),
                                 ("name", .string(event.name)), ("time", .double(event.time))])
        if let actor = event.actor { object["actor"] = .string(actor) }
        if let camera = event.camera { object["camera"] = .string(camera) }
        object["details"] = .object(event.details)
        outboxContinuation.yield(JSONWriter.string(.object(object)))
    }

    private func sendRelayed() async {
        for await payload in outbox {
            guard payload.utf8.count <= 7_900 else {
                logger.warning("event too large to relay to the other nodes", metadata: ["bytes": "\(payload.utf8.count)"])
                continue
            }
            do {
                try await backend.notify(payload)
            } catch {
                logger.warning("could not relay an event to the other nodes", metadata: ["error": "\(error)"])
            }
        }
    }

    private func listen() async {
        for await payload in backend.notifications() {
            guard let message = try? JSONParser.parse(payload), let node = message["node"].flatMap(Self.string) else { continue }
            // Something changed somewhere: look now (this node's own kicks need no second look).
            if node != config.nodeID, message["kind"] != .string("event") {
                if message["kind"] == .string("cameras") { state.withLock { $0.recordsStale = true } }
                kicks.notify()
            }
            guard node != config.nodeID, message["kind"] == .string("event"),
                  let id = message["id"].flatMap(Self.string), let name = message["name"].flatMap(Self.string),
                  case .object(let details)? = message["details"] else { continue }
            let event = GatewayEvent(name: name, actor: message["actor"].flatMap(Self.string), camera: message["camera"].flatMap(Self.string),
                                     details: details, time: message["time"]?.doubleValue ?? WallClock.now(), id: id)
            state.withLock { state in
                state.relayed.insert(id)
                state.relayedOrder.append(id)
                if state.relayedOrder.count > 2048 {
                    for old in state.relayedOrder.prefix(1024) { state.relayed.remove(old) }
                    state.relayedOrder.removeFirst(1024)
                }
            }
            if name == "camera.state_changed", let camera = event.camera,
               let to = details["to"].flatMap(Self.string).flatMap(CameraState.init(rawValue:)) {
                manager.remote.update(camera, node: node, state: to, lastError: details["reason"].flatMap(Self.string),
                                      lastPublicError: details["public_reason"].flatMap(Self.string))
            }
            if Self.accessEvents.contains(name) {
                state.withLock { $0.recordsStale = true }
                access.changes.notify()
                kicks.notify()
            }
            events.deliverToObservers(event)
        }
    }

    static func string(_ value: JSONValue) -> String? {
        if case .string(let text) = value { text } else { nil }
    }
}
