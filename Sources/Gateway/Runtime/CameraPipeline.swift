import Logging
import Synchronization

/// One running camera: its source under supervision, its hub and its sinks. Started by the
/// `CameraManager`; `stop()` ends this camera alone.
public final class CameraPipeline: Sendable {
    public let id: String
    public let record: CameraRecord
    public let hub: StreamHub
    public let supervisor: CameraSupervisor
    public let sinks: [any CameraSink]
    let sinkServices: [SinkService]
    private let logger: Logger
    private let stopSignal = StopSignal()

    init(record: CameraRecord, hub: StreamHub, supervisor: CameraSupervisor, sinks: [any CameraSink], sinkServices: [SinkService],
         logger: Logger) {
        id = record.id
        self.record = record
        self.hub = hub
        self.supervisor = supervisor
        self.sinks = sinks
        self.sinkServices = sinkServices
        self.logger = logger
    }

    /// Runs until `stop()` or cancellation.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { try? await self.supervisor.run() }
            if let fragmenter = hub.requestedFragmenter { group.addTask { await fragmenter.run(logger: self.logger) } }
            for service in sinkServices { group.addTask { try? await service.run() } }
            await stopSignal.wait()
            group.cancelAll()
        }
    }

    public func stop() { stopSignal.fire() }
}

/// A one-shot signal that a task can wait for; waiting also ends when the task is cancelled.
final class StopSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { state in
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
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

/// Stands in for a source whose type is known to the configuration but not built in: the
/// camera is listed, offline, with the reason.
struct UnavailableSource: CameraSource {
    let type: String
    func run(output: any SourceOutput) async throws {
        throw PermanentSourceFailure(message: "source type '\(type)' is not available in this build")
    }
}

/// A failure no retry can fix: the supervisor marks the camera offline instead of retrying.
public struct PermanentSourceFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
