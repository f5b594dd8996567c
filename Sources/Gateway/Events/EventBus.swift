import Logging
import ServiceLifecycle
import Synchronization

/// Carries events from the components to every event backend. Emitting never blocks; a
/// backend that fails is logged and the others still get the event.
public final class EventBus: Service, Sendable {
    private let stream: AsyncStream<GatewayEvent>
    private let continuation: AsyncStream<GatewayEvent>.Continuation
    private let backends = Mutex<[any EventBackend]>([])
    private let listeners = Mutex<[@Sendable (GatewayEvent) -> Void]>([])
    private let logger: Logger

    public init(logger: Logger, buffer: Int = 10_000) {
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: GatewayEvent.self, bufferingPolicy: .bufferingNewest(buffer))
    }

    public func attach(_ backend: any EventBackend) { backends.withLock { $0.append(backend) } }

    /// Synchronous in-process observers (clip triggers, tests); called on the emitting thread.
    public func observe(_ listener: @escaping @Sendable (GatewayEvent) -> Void) { listeners.withLock { $0.append(listener) } }

    public func emit(_ event: GatewayEvent) {
        for listener in listeners.withLock({ $0 }) { listener(event) }
        continuation.yield(event)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            for await event in self.stream {
                for backend in self.backends.withLock({ $0 }) {
                    do {
                        try await backend.publish(event)
                    } catch {
                        self.logger.warning("event backend failed", metadata: ["event": "\(event.name)", "error": "\(error)"])
                    }
                }
            }
        }
    }
}
