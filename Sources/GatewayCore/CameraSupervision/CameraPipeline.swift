import Logging
import ServiceLifecycle
import Synchronization
import JSON

/// One running camera: its source under supervision, its hub and its sinks. Started by the
/// `CameraManager`; `stop()` ends this camera alone, `replaceSinks` restarts only the sinks a
/// reloaded definition changed (the source, the hub and the other sinks keep running).
public final class CameraPipeline: Sendable {
    public let id: String
    public let hub: StreamHub
    public let supervisor: CameraSupervisor
    private let logger: Logger
    private let state: Mutex<(record: CameraRecord, slots: [SinkSlot], fragmenterRunning: Bool)>
    private let commands: AsyncStream<Command>
    private let commandContinuation: AsyncStream<Command>.Continuation

    /// A running sink, with the definition it was built from.
    struct SinkSlot: Sendable {
        let definition: JSONValue
        let sink: any CameraSink
        let service: SinkService
        let stop = StopSignal()

        func run() async {
            await withDiscardingTaskGroup { group in
                group.addTask { try? await service.run() }
                await stop.wait()
                group.cancelAll()
            }
        }
    }

    private enum Command: Sendable {
        case run(SinkSlot)
        case runFragmenter
        case stop
    }

    init(record: CameraRecord, hub: StreamHub, supervisor: CameraSupervisor, slots: [SinkSlot], logger: Logger) {
        id = record.id
        self.hub = hub
        self.supervisor = supervisor
        self.logger = logger
        state = Mutex((record, slots, false))
        (commands, commandContinuation) = AsyncStream.makeStream(of: Command.self)
    }

    /// Fired when `run` has returned: the source is closed and the sinks have finished.
    private let finished = StopSignal()

    /// Waits until the pipeline has ended (after `stop()`), at most `timeout`; whether it ended.
    @discardableResult
    public func ended(within timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.finished.wait(); return !Task.isCancelled }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public var record: CameraRecord { state.withLock { $0.record } }
    public var sinks: [any CameraSink] { state.withLock { $0.slots.map(\.sink) } }
    var sinkDefinitions: [JSONValue] { state.withLock { $0.slots.map(\.definition) } }

    /// Runs until `stop()` or cancellation.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { try? await self.supervisor.run() }
            for slot in state.withLock({ $0.slots }) { group.addTask { await slot.run() } }
            startFragmenterIfRequested()
            for await command in commands {
                switch command {
                case .run(let slot): group.addTask { await slot.run() }
                case .runFragmenter:
                    if let fragmenter = hub.requestedFragmenter { group.addTask { await fragmenter.run(logger: self.logger) } }
                case .stop:
                    group.cancelAll()
                    return
                }
            }
            group.cancelAll()
        }
        // The sinks have finished (a recorder its segment); whoever still reads the hubs — live
        // viewers — ends now, rather than waiting on hubs nothing feeds any more.
        hub.closeAll()
        finished.fire()
    }

    public func stop() {
        commandContinuation.yield(.stop)
        commandContinuation.finish()
    }

    /// The sinks of `record` where they differ from the running ones, position by position: a
    /// changed sink stops and its replacement starts; unchanged sinks keep running. `build`
    /// makes a slot from a sink's definition.
    func replaceSinks(record: CameraRecord, definitions: [JSONValue], build: (Int, JSONValue) throws -> SinkSlot?) rethrows -> [Int] {
        let current = state.withLock { $0.slots }
        let replaced = Self.changedPositions(current.map(\.definition), definitions)
        var slots: [SinkSlot] = []
        var stopped: [SinkSlot] = []
        for index in 0..<max(current.count, definitions.count) {
            let old = index < current.count ? current[index] : nil
            guard replaced.contains(index) else {
                if let old { slots.append(old) }
                continue
            }
            if let old { stopped.append(old) }
            if index < definitions.count, let slot = try build(index, definitions[index]) { slots.append(slot) }
        }
        state.withLock {
            $0.record = record
            $0.slots = slots
        }
        for slot in stopped { slot.stop.fire() }
        for slot in slots where !current.contains(where: { $0.stop === slot.stop }) { commandContinuation.yield(.run(slot)) }
        startFragmenterIfRequested()
        return replaced
    }

    /// The positions where two lists of sink definitions differ (one longer than the other
    /// differs at its extra positions).
    static func changedPositions(_ running: [JSONValue], _ definitions: [JSONValue]) -> [Int] {
        (0..<max(running.count, definitions.count)).filter {
            $0 >= running.count || $0 >= definitions.count || running[$0] != definitions[$0]
        }
    }

    private func startFragmenterIfRequested() {
        let start = state.withLock { state -> Bool in
            guard !state.fragmenterRunning, hub.requestedFragmenter != nil else { return false }
            state.fragmenterRunning = true
            return true
        }
        if start { commandContinuation.yield(.runFragmenter) }
    }
}

/// A one-shot signal that a task can wait for; waiting also ends when the task is cancelled.
package final class StopSignal: Sendable {
    package init() {}
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    package func fire() {
        let waiters = state.withLock { state in
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    package func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if fired { continuation.resume() }
            }
        } onCancel: {
            fire()
        }
    }
}

/// Runs one sink; a sink that fails is restarted after a pause, without touching the camera.
struct SinkService: Service {
    let cameraID: String
    let type: String
    let sink: any CameraSink
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff()
            var random = SystemRandomNumberGenerator()
            while !Task.isCancelled {
                do {
                    try await sink.run()
                    return
                } catch {
                    if Task.isCancelled { return }
                    let delay = backoff.nextDelay(using: &random)
                    logger.error("sink failed; restarting", metadata: ["sink": "\(type)", "error": "\(error)", "retry_in": "\(delay)"])
                    try? await Task.sleep(for: delay)
                }
            }
        }
    }
}
