import DequeModule
import Metrics
import Synchronization

/// What flows through a hub: payload items (counted, droppable) and control events (kept).
public protocol HubEventKind: Sendable {
    /// `count` payload items were dropped for this reader; the next one is a sync point.
    static func skipped(count: Int) -> Self
    var skippedCount: Int? { get }
    /// Counts toward the reader's capacity and may be dropped.
    var isPayload: Bool { get }
}

/// What a reader of a stream hub receives, in order.
public enum HubEvent: HubEventKind {
    /// A source session began: new codec parameters (a new init segment). Always the first event.
    case streams(StreamSet)
    case packet(MediaPacket)
    /// This reader fell behind and `count` packets were dropped for it; the next packet is a keyframe.
    case skipped(count: Int)

    public var skippedCount: Int? { if case .skipped(let count) = self { count } else { nil } }
    public var isPayload: Bool { if case .packet = self { true } else { false } }
}

/// A reader of the camera's packets.
public typealias PacketReader = HubReader<HubEvent>

/// One consumer of a hub (a sink, a viewer) with its own bounded queue. A reader that falls
/// `capacity` items behind loses its queue and resumes at the next sync point (keyframe); the
/// camera and the other readers never wait for it.
public final class HubReader<Event: HubEventKind>: Sendable, AsyncSequence {
    public typealias Element = Event

    struct State {
        var queue = Deque<Event>()
        var queuedPackets = 0
        var waiter: CheckedContinuation<Event?, Never>?
        var needsKeyframe = false
        var pendingSkip = 0
        var delivered = 0
        var dropped = 0
        var closed = false
    }

    public let name: String
    public let capacity: Int
    private let state = Mutex(State())
    private let droppedCounter: Counter
    private let onClose: @Sendable (HubReader<Event>) -> Void

    init(name: String, capacity: Int, droppedCounter: Counter, onClose: @escaping @Sendable (HubReader<Event>) -> Void) {
        self.name = name
        self.capacity = Swift.max(1, capacity)
        self.droppedCounter = droppedCounter
        self.onClose = onClose
    }

    /// Events handed over while the hub holds its lock (subscription, new session): never dropped.
    func enqueueControl(_ event: Event, requireKeyframe: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Event?, Never>? in
            guard !state.closed else { return nil }
            if requireKeyframe { state.needsKeyframe = true }
            if event.isPayload { state.queuedPackets += 1 }
            if let waiter = state.waiter {
                state.waiter = nil
                state.delivered += 1
                return waiter
            }
            state.queue.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// A live payload item. `isSyncPoint` marks where a reader that skipped may resume.
    func offer(_ item: Event, isSyncPoint: Bool) {
        var dropped = 0
        let delivery = state.withLock { state -> (CheckedContinuation<Event?, Never>, Event)? in
            guard !state.closed else { return nil }
            var first: Event?
            if state.needsKeyframe {
                guard isSyncPoint else {
                    state.pendingSkip += 1
                    state.dropped += 1
                    dropped = 1
                    return nil
                }
                state.needsKeyframe = false
                if state.pendingSkip > 0 { first = .skipped(count: state.pendingSkip) }
                state.pendingSkip = 0
            } else if state.queuedPackets >= capacity {
                // Overflow: drop the queued packets and skip notices (keep session changes), and
                // wait for a keyframe. One notice then tells how much was lost since the last delivery.
                var earlierSkips = 0
                state.queue.removeAll { event in
                    if let count = event.skippedCount { earlierSkips += count; return true }
                    return event.isPayload
                }
                let lost = state.queuedPackets
                state.queuedPackets = 0
                state.dropped += lost
                dropped = lost
                if isSyncPoint {
                    first = .skipped(count: earlierSkips + lost)
                } else {
                    state.needsKeyframe = true
                    state.pendingSkip = earlierSkips + lost + 1
                    state.dropped += 1
                    dropped += 1
                    return nil
                }
            }
            var events: [Event] = []
            if let first { events.append(first) }
            events.append(item)
            if let waiter = state.waiter, state.queue.isEmpty {
                state.waiter = nil
                state.delivered += 1
                let head = events.removeFirst()
                for event in events { state.queue.append(event) }
                state.queuedPackets += events.count { $0.isPayload }
                return (waiter, head)
            }
            for event in events { state.queue.append(event) }
            state.queuedPackets += 1
            return nil
        }
        if dropped > 0 { droppedCounter.increment(by: dropped) }
        if let (waiter, event) = delivery { waiter.resume(returning: event) }
    }

    /// The next event, waiting for it; nil once the reader is closed or its task cancelled.
    public func next() async -> Event? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
                let ready: Event?? = state.withLock { state in
                    if let event = state.queue.popFirst() {
                        if event.isPayload { state.queuedPackets -= 1 }
                        state.delivered += 1
                        return .some(event)
                    }
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            wakeWaiter()
        }
    }

    private func wakeWaiter() {
        let waiter = state.withLock { state -> CheckedContinuation<Event?, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Leaves the hub; a waiting `next()` returns nil.
    public func close() {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true; state.queue.removeAll() }
            return !state.closed
        }
        guard wasOpen else { return }
        wakeWaiter()
        onClose(self)
    }

    public var statistics: ReaderStatistics {
        state.withLock { ReaderStatistics(name: name, queued: $0.queuedPackets, delivered: $0.delivered, dropped: $0.dropped) }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: HubReader<Event>
        public mutating func next() async -> Event? { await reader.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: self) }
}

public struct ReaderStatistics: Sendable, Codable {
    public let name: String
    public let queued: Int
    public let delivered: Int
    public let dropped: Int
}
