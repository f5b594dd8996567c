import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals
import GatewayCore
import JSON

/// plugins.json applied again while the gateway runs: on SIGHUP, and when the file changes
/// (checked every `pollInterval`). The file is validated exactly as `gateway check-config` and
/// the start do (`ConfigLoader`); with any problem, every problem is logged and sent as
/// `config.reload_failed`, and the running configuration stays. Otherwise only what changed is
/// applied:
/// - a camera added to the file starts; one taken out stops and is deleted with its videos;
/// - a camera whose source changed restarts alone; one whose sinks changed restarts only
///   those sinks (`CameraManager.applySinks`); a name or owner change restarts nothing;
/// - sections that cannot change under a running process (server, auth, users, storage,
///   events, sources, limits) are reported as needing a restart.
/// Each reload ends with a `config.reloaded` event saying what changed.
public final class ConfigReloader: Service, Sendable {
    public static let restartSections = ["server", "auth", "users", "storage", "cache", "events", "sources", "limits", "uploads", "cluster"]

    private let path: String
    private let loader: ConfigLoader
    private let runtime: GatewayRuntime
    private let pollInterval: Duration
    private let logger: Logger
    /// The cameras as last applied (definition by id, in file order), and the fingerprint of
    /// the file that was read.
    private let applied: Mutex<(cameras: [(id: String, definition: JSONValue)], fingerprint: [Int]?)>
    /// The sections last reported as needing a restart.
    private let reportedRestart = Mutex<[String]>([])

    public init(path: String, loader: ConfigLoader, runtime: GatewayRuntime, pollInterval: Duration = .seconds(2), logger: Logger) {
        self.path = path
        self.loader = loader
        self.runtime = runtime
        self.pollInterval = pollInterval
        self.logger = logger
        let cameras = zip(runtime.config.cameras, runtime.config.cameraDefinitions).map { (id: $0.0.id, definition: $0.1) }
        applied = Mutex((cameras, FileIO.fingerprint(path)))
    }

    /// What a reload did.
    public struct Outcome: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        public var restarted: [String] = []
        /// Camera id → positions of the sinks that restarted.
        public var sinksRestarted: [String: [Int]] = [:]
        public var updated: [String] = []
        public var needsRestart: [String] = []
        public var refused: [String] = []
        public var problems: [String] = []

        public var isEmpty: Bool {
            added.isEmpty && removed.isEmpty && restarted.isEmpty && sinksRestarted.isEmpty && updated.isEmpty && refused.isEmpty
        }
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let (triggers, trigger) = AsyncStream.makeStream(of: String.self)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in signals { trigger.yield("SIGHUP") }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.pollInterval)
                        let now = FileIO.fingerprint(self.path)
                        if now != nil, now != self.applied.withLock({ $0.fingerprint }) { trigger.yield("file changed") }
                    }
                }
                // One reload at a time, in the order asked.
                for await reason in triggers {
                    if reason != "SIGHUP", FileIO.fingerprint(self.path) == self.applied.withLock({ $0.fingerprint }) { continue }
                    _ = await self.reload(reason: reason)
                }
                group.cancelAll()
            }
        }
    }

    /// Reads, validates and applies the file; one reload at a time.
    public func reload(reason: String) async -> Outcome {
        let fingerprint = FileIO.fingerprint(path)
        let config: GatewayConfig
        switch loader.load(file: path) {
        case .failure(let errors):
            applied.withLock { $0.fingerprint = fingerprint }
            let problems = errors.problems.map { $0.path.isEmpty ? $0.reason : "\($0.path): \($0.reason)" }
            logger.error("plugins.json not reloaded; the running configuration stays", metadata: ["problems": "\(problems)"])
            runtime.events.emit(GatewayEvent(name: "config.reload_failed", details: JSONObject([
                ("reason", .string(reason)), ("problems", .array(problems.map(JSONValue.string))),
            ])))
            return Outcome(problems: problems)
        case .success(let loaded):
            config = loaded
        }
        let old = applied.withLock { $0.cameras }
        var outcome = Outcome()
        outcome.needsRestart = Self.restartSections.filter { (runtime.config.document[$0] ?? .null) != (config.document[$0] ?? .null) }
        let previous = Dictionary(old.map { ($0.id, $0.definition) }, uniquingKeysWith: { first, _ in first })
        let next = zip(config.cameras, config.cameraDefinitions).map { (id: $0.0.id, camera: $0.0, definition: $0.1) }
        let now = WallClock.now()
        for (id, camera, definition) in next {
            if let before = previous[id], before == definition { continue }
            let existing = try? await runtime.storage.camera(id: id)
            if let existing, existing.origin == .api {
                outcome.refused.append(id)
                outcome.problems.append("cameras: '\(id)' is a camera created through the API; plugins.json cannot take it over")
                continue
            }
            let record = CameraRecord(config: camera, definition: definition, createdAt: existing?.createdAt ?? now, updatedAt: now)
            do {
                try await runtime.storage.upsertCamera(record)
                if let before = previous[id], Self.sameSource(before, definition),
                   let restartedSinks = try runtime.cameraManager.applySinks(record) {
                    if restartedSinks.isEmpty { outcome.updated.append(id) } else { outcome.sinksRestarted[id] = restartedSinks }
                } else {
                    try runtime.cameraManager.start(record)
                    if previous[id] == nil { outcome.added.append(id) } else { outcome.restarted.append(id) }
                }
            } catch {
                outcome.refused.append(id)
                outcome.problems.append("cameras: '\(id)': \(error)")
            }
        }
        let kept = Set(next.map(\.id))
        for (id, _) in old where !kept.contains(id) {
            do {
                try await runtime.cameras.remove(id: id, actor: nil)
                outcome.removed.append(id)
            } catch {
                outcome.problems.append("cameras: '\(id)' could not be removed: \(error)")
            }
        }
        runtime.access.changes.notify()
        applied.withLock {
            $0.cameras = next.filter { !outcome.refused.contains($0.id) }.map { (id: $0.id, definition: $0.definition) }
                + old.filter { outcome.refused.contains($0.id) && kept.contains($0.id) }
            $0.fingerprint = fingerprint
        }
        let sameRestart = reportedRestart.withLock { reported in
            defer { reported = outcome.needsRestart }
            return reported == outcome.needsRestart
        }
        if outcome.isEmpty, outcome.problems.isEmpty, sameRestart {
            logger.notice("plugins.json reloaded: nothing changed", metadata: ["reason": "\(reason)"])
        } else {
            report(outcome, reason: reason)
        }
        return outcome
    }

    /// Whether two camera definitions differ only in their name, owner or sinks.
    static func sameSource(_ a: JSONValue, _ b: JSONValue) -> Bool {
        guard case .object(var left) = a, case .object(var right) = b else { return false }
        for key in ["name", "owner", "sinks"] {
            left[key] = nil
            right[key] = nil
        }
        return left == right
    }

    private func report(_ outcome: Outcome, reason: String) {
        var details = JSONObject([("reason", .string(reason))])
        func list(_ name: String, _ values: [String]) { details[name] = .array(values.map(JSONValue.string)) }
        list("added", outcome.added)
        list("removed", outcome.removed)
        list("restarted", outcome.restarted)
        details["sinks_restarted"] = .object(JSONObject(outcome.sinksRestarted.sorted { $0.key < $1.key }.map {
            ($0.key, JSONValue.array($0.value.map(JSONValue.int)))
        }))
        list("updated", outcome.updated)
        list("needs_restart", outcome.needsRestart)
        if !outcome.problems.isEmpty { list("problems", outcome.problems) }
        logger.notice("plugins.json reloaded", metadata: [
            "reason": "\(reason)", "added": "\(outcome.added)", "removed": "\(outcome.removed)", "restarted": "\(outcome.restarted)",
            "sinks_restarted": "\(outcome.sinksRestarted)", "needs_restart": "\(outcome.needsRestart)",
        ])
        runtime.events.emit(GatewayEvent(name: "config.reloaded", details: details))
    }
}

extension CameraRecord {
    /// The stored record of a camera written in plugins.json (at the start and at each reload):
    /// its source was chosen by whoever runs the gateway.
    init(config camera: CameraConfig, definition: JSONValue, createdAt: Double, updatedAt: Double) {
        self.init(id: camera.id, name: camera.name, owner: camera.owner, source: definition["source"] ?? .null,
                  sinks: definition["sinks"] ?? .array([]), origin: .config, sourceTrust: .unrestricted,
                  createdAt: createdAt, updatedAt: updatedAt)
    }
}
