import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Carries events to every event backend. Emitting never blocks: each backend has its own
/// bounded queue, so a slow or failing backend delays nobody; when a queue is full the oldest
/// event is dropped and counted (`gateway_events_dropped_total{backend}`).
public final class EventBus: Service, Sendable {
    private struct Queue: Sendable {
        let name: String
        let backend: any EventBackend
        let stream: AsyncStream<GatewayEvent>
        let continuation: AsyncStream<GatewayEvent>.Continuation
        let dropped: Counter
    }

    private let queues = Mutex<[Queue]>([])
    private let listeners = Mutex<[@Sendable (GatewayEvent) -> Void]>([])
    private let logger: Logger
    private let capacity: Int
    private let metrics: any MetricsFactory
    private let drainTimeout: Duration

    public init(logger: Logger, capacity: Int = 10_000, metrics: any MetricsFactory = MetricsSystem.factory,
                drainTimeout: Duration = .seconds(5)) {
        self.logger = logger
        self.drainTimeout = drainTimeout
        self.capacity = capacity
        self.metrics = metrics
    }

    /// Adds a backend; call before `run()`.
    public func attach(_ backend: any EventBackend, name: String) {
        let (stream, continuation) = AsyncStream.makeStream(of: GatewayEvent.self, bufferingPolicy: .bufferingNewest(capacity))
        let dropped = Counter(label: MetricName.eventsDropped, dimensions: [("backend", name)], factory: metrics)
        queues.withLock { $0.append(Queue(name: name, backend: backend, stream: stream, continuation: continuation, dropped: dropped)) }
    }

    /// Synchronous in-process observers (clip triggers, tests); called on the emitting thread.
    public func observe(_ listener: @escaping @Sendable (GatewayEvent) -> Void) { listeners.withLock { $0.append(listener) } }

    public func emit(_ event: GatewayEvent) {
        for listener in listeners.withLock({ $0 }) { listener(event) }
        for queue in queues.withLock({ $0 }) {
            if case .dropped = queue.continuation.yield(event) { queue.dropped.increment() }
        }
    }

    /// Delivers until the gateway shuts down; then delivers what is still queued, giving a
    /// stuck backend at most `drainTimeout`, and ends.
    public func run() async throws {
        let queues = queues.withLock { $0 }
        let drainTimeout = drainTimeout
        guard !queues.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withDiscardingTaskGroup { consumers in
                    for queue in queues {
                        consumers.addTask { await self.deliver(queue) }
                    }
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                for queue in queues { queue.continuation.finish() }
                try? await Task.sleep(for: drainTimeout)
            }
            // Either everything was delivered, or the drain took too long, or we were cancelled.
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func deliver(_ queue: Queue) async {
        for await event in queue.stream {
            do {
                try await queue.backend.publish(event)
            } catch {
                logger.warning("event backend failed", metadata: [
                    "backend": "\(queue.name)", "event": "\(event.name)", "error": "\(error)",
                ])
            }
        }
    }
}
