import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Carries events to every event backend. Emitting never blocks: each local backend has its own
/// bounded queue, so a slow or failing backend delays nobody; when a queue is full the oldest
/// event is dropped and counted (`gateway_events_dropped_total{backend}`). A remote backend
/// (`RemoteEventBackend`) has a durable spool instead (`EventSpool`), delivered in order with
/// retries, and kept across restarts.
public final class EventBus: Service, Sendable {
    private struct Queue: Sendable {
        let name: String
        let backend: any EventBackend
        let stream: AsyncStream<GatewayEvent>
        let continuation: AsyncStream<GatewayEvent>.Continuation
        let dropped: Counter
    }

    private struct Spooled: Sendable {
        let name: String
        let backend: any RemoteEventBackend
        let spool: EventSpool
        let delivered: Counter
    }

    private let queues = Mutex<[Queue]>([])
    private let spooled = Mutex<[Spooled]>([])
    private let listeners = Mutex<(next: Int, all: [(id: Int, call: @Sendable (GatewayEvent) -> Void)])>((0, []))
    private let logger: Logger
    private let capacity: Int
    private let metrics: any MetricsFactory
    private let drainTimeout: Duration
    private let retry: Backoff

    public init(logger: Logger, capacity: Int = 10_000, metrics: any MetricsFactory = MetricsSystem.factory,
                drainTimeout: Duration = .seconds(5), retry: Backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))) {
        self.logger = logger
        self.drainTimeout = drainTimeout
        self.capacity = capacity
        self.metrics = metrics
        self.retry = retry
    }

    /// Adds a local backend; call before `run()`.
    public func attach(_ backend: any EventBackend, name: String) {
        let (stream, continuation) = AsyncStream.makeStream(of: GatewayEvent.self, bufferingPolicy: .bufferingNewest(capacity))
        let dropped = Counter(label: MetricName.eventsDropped, dimensions: [("backend", name)], factory: metrics)
        queues.withLock { $0.append(Queue(name: name, backend: backend, stream: stream, continuation: continuation, dropped: dropped)) }
    }

    /// Adds a remote backend with its spool; call before `run()`.
    public func attach(_ backend: any RemoteEventBackend, name: String, spool: EventSpool) {
        let delivered = Counter(label: MetricName.eventsDelivered, dimensions: [("backend", name)], factory: metrics)
        spooled.withLock { $0.append(Spooled(name: name, backend: backend, spool: spool, delivered: delivered)) }
    }

    /// Every backend attached, local and remote (the analytics API looks for one it can query).
    public var backends: [any EventBackend] {
        queues.withLock { $0.map(\.backend) } + spooled.withLock { $0.map { $0.backend as any EventBackend } }
    }

    /// Synchronous in-process observers (clip triggers, tests); called on the emitting thread.
    /// Returns the listener's id, for `stopObserving`.
    @discardableResult
    public func observe(_ listener: @escaping @Sendable (GatewayEvent) -> Void) -> Int {
        listeners.withLock { state in
            state.next += 1
            state.all.append((state.next, listener))
            return state.next
        }
    }

    /// Removes a listener `observe` added (a browser's event stream that ended).
    public func stopObserving(_ id: Int) { listeners.withLock { $0.all.removeAll { $0.id == id } } }

    /// An event another node of a cluster emitted (and gave its backends): only this process's
    /// observers get it.
    public func deliverToObservers(_ event: GatewayEvent) {
        for listener in listeners.withLock({ $0.all }) { listener.call(event) }
    }

    public func emit(_ event: GatewayEvent) {
        for listener in listeners.withLock({ $0.all }) { listener.call(event) }
        for queue in queues.withLock({ $0 }) {
            if case .dropped = queue.continuation.yield(event) { queue.dropped.increment() }
        }
        for remote in spooled.withLock({ $0 }) { remote.spool.append(event) }
    }

    /// Delivers until the gateway shuts down; then delivers what is still queued, giving a
    /// stuck backend at most `drainTimeout`, and ends. What a remote backend did not take stays
    /// in its spool on disk for the next start.
    public func run() async throws {
        let queues = queues.withLock { $0 }
        let remotes = spooled.withLock { $0 }
        let drainTimeout = drainTimeout
        guard !queues.isEmpty || !remotes.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        await withTaskGroup(of: Void.self) { connections in
            for remote in remotes {
                connections.addTask {
                    do {
                        try await remote.backend.run()
                    } catch {
                        self.logger.error("event backend stopped", metadata: ["backend": "\(remote.name)", "error": "\(error)"])
                    }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withDiscardingTaskGroup { consumers in
                        for queue in queues {
                            consumers.addTask { await self.deliver(queue) }
                        }
                        for remote in remotes {
                            consumers.addTask { await self.deliver(remote) }
                        }
                    }
                }
                group.addTask {
                    try? await gracefulShutdown()
                    for queue in queues { queue.continuation.finish() }
                    for remote in remotes { remote.spool.drain() }
                    try? await Task.sleep(for: drainTimeout)
                }
                // Either everything was delivered, or the drain took too long, or we were cancelled.
                _ = await group.next()
                group.cancelAll()
            }
            for remote in remotes { await remote.spool.close() }
            connections.cancelAll()
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

    private func deliver(_ remote: Spooled) async {
        var backoff = retry
        var random = SystemRandomNumberGenerator()
        var failing = false
        let limit = max(1, remote.backend.batchLimit)
        while !Task.isCancelled {
            var batch = await remote.spool.next(limit: limit)
            guard !batch.isEmpty else { return }
            if batch.count < limit && remote.backend.batchLinger > .zero {
                try? await Task.sleep(for: remote.backend.batchLinger)
                batch = await remote.spool.next(limit: limit)
                guard !batch.isEmpty else { return }
            }
            do {
                try await remote.backend.deliver(batch.map(\.event))
                remote.spool.acknowledge(through: batch[batch.count - 1].sequence)
                remote.delivered.increment(by: batch.count)
                backoff.reset()
                if failing {
                    failing = false
                    logger.notice("event backend delivers again", metadata: ["backend": "\(remote.name)", "spooled": "\(remote.spool.count)"])
                }
            } catch {
                // Stopping: what the backend cannot take now stays on disk for the next start.
                if Task.isCancelled || remote.spool.isDraining { return }
                if !failing {
                    failing = true
                    logger.warning("event backend cannot take events; they wait in its spool", metadata: [
                        "backend": "\(remote.name)", "error": "\(error)", "spool": "\(remote.spool.directory)",
                    ])
                }
                try? await Task.sleep(for: backoff.nextDelay(using: &random))
            }
        }
    }
}
