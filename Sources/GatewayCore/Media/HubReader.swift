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
///
/// Wake-ups are batched: a reader made with a `wakeInterval` is resumed at most once per
/// interval (items that arrive sooner wait in its queue, and it takes them all at once with
/// `nextBatch()`); an item that arrives after a quiet spell longer than the interval is handed
/// over at once. `HubFlusher` delivers what is left waiting when the source goes quiet. Waking
/// a task costs far more than queueing an item, and a camera sends 25 to 75 packets a second.
public final class HubReader<Event: HubEventKind>: Sendable, AsyncSequence {
    public typealias Element = Event

    struct State {
        /// Each event with when it arrived (monotonic ns), for the age of the oldest.
        var queue = Deque<(event: Event, arrival: Int64)>()
        var queuedPackets = 0
        var waiter: CheckedContinuation<Event?, Never>?
        var lastWake: Int64 = 0
        /// Known to the flusher.
        var scheduled = false
        var needsKeyframe = false
        var pendingSkip = 0
        var delivered = 0
        var dropped = 0
        var closed = false

        mutating func append(_ event: Event, at now: Int64) {
            queue.append((event, now))
            if event.isPayload { queuedPackets += 1 }
        }

        mutating func pop() -> Event? {
            guard let event = queue.popFirst()?.event else { return nil }
            if event.isPayload { queuedPackets -= 1 }
            delivered += 1
            return event
        }

        /// The waiter and the head of the queue when the interval has passed; otherwise, when
        /// someone waits, the flusher is to look in when the held items fall due (`schedule`).
        mutating func wakeOrSchedule(now: Int64, interval: Int64, schedule: inout Int64?) -> (CheckedContinuation<Event?, Never>, Event)? {
            if let delivery = takeWaiter(now: now, interval: interval, force: false) { return delivery }
            if waiter != nil, !queue.isEmpty, !scheduled {
                scheduled = true
                schedule = lastWake + interval + interval / 2
            }
            return nil
        }

        /// Resumes the waiter now: the interval since the last wake has passed, or `force`.
        mutating func takeWaiter(now: Int64, interval: Int64, force: Bool) -> (CheckedContinuation<Event?, Never>, Event)? {
            guard let waiter, !queue.isEmpty, force || interval == 0 || now - lastWake >= interval else { return nil }
            self.waiter = nil
            lastWake = now
            return (waiter, pop()!)
        }
    }

    public let name: String
    public let capacity: Int
    /// Nanoseconds between wake-ups; 0: every item wakes the reader.
    let wakeInterval: Int64
    private let state = Mutex(State())
    private let droppedCounter: Counter
    /// Hands over what this reader holds back when no item comes to wake it.
    private let flusher: HubFlusher
    private let onClose: @Sendable (HubReader<Event>) -> Void

    init(name: String, capacity: Int, wakeInterval: Duration = .zero, droppedCounter: Counter, flusher: HubFlusher = .shared,
         onClose: @escaping @Sendable (HubReader<Event>) -> Void) {
        self.name = name
        self.flusher = flusher
        self.capacity = Swift.max(1, capacity)
        let components = wakeInterval.components
        self.wakeInterval = Swift.max(0, components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
        self.droppedCounter = droppedCounter
        self.onClose = onClose
    }

    /// Events handed over while the hub holds its lock (subscription, new session): never
    /// dropped, and handed over at once.
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    func enqueueControl(_ event: Event, requireKeyframe: Bool) {
        let now = MonotonicTime.nanoseconds()
        let delivery = state.withLock { state -> (CheckedContinuation<Event?, Never>, Event)? in
            guard !state.closed else { return nil }
            if requireKeyframe { state.needsKeyframe = true }
            state.append(event, at: now)
            return state.takeWaiter(now: now, interval: wakeInterval, force: true)
        }
        if let (waiter, event) = delivery { waiter.resume(returning: event) }
    }

    /// A live payload item. `isSyncPoint` marks where a reader that skipped may resume. `now`:
    /// the monotonic time of its arrival (one clock read serves every reader).
    /// `wake`: false when more items follow at once (a batch); `wake(now:)` comes after them.
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    func offer(_ item: Event, isSyncPoint: Bool, now: Int64 = MonotonicTime.nanoseconds(), wake: Bool = true) {
        var dropped = 0
        var schedule: Int64?
        let delivery = state.withLock { state -> (CheckedContinuation<Event?, Never>, Event)? in
            guard !state.closed else { return nil }
            if state.needsKeyframe {
                guard isSyncPoint else {
                    state.pendingSkip += 1
                    state.dropped += 1
                    dropped = 1
                    return nil
                }
                state.needsKeyframe = false
                if state.pendingSkip > 0 { state.append(.skipped(count: state.pendingSkip), at: now) }
                state.pendingSkip = 0
            } else if state.queuedPackets >= capacity {
                // Overflow: drop the queued packets and skip notices (keep session changes), and
                // wait for a keyframe. One notice then tells how much was lost since the last delivery.
                var earlierSkips = 0
                state.queue.removeAll { queued in
                    if let count = queued.event.skippedCount { earlierSkips += count; return true }
                    return queued.event.isPayload
                }
                let lost = state.queuedPackets
                state.queuedPackets = 0
                state.dropped += lost
                dropped = lost
                if isSyncPoint {
                    state.append(.skipped(count: earlierSkips + lost), at: now)
                } else {
                    state.needsKeyframe = true
                    state.pendingSkip = earlierSkips + lost + 1
                    state.dropped += 1
                    dropped += 1
                    return nil
                }
            }
            state.append(item, at: now)
            guard wake else { return nil }
            return state.wakeOrSchedule(now: now, interval: wakeInterval, schedule: &schedule)
        }
        if dropped > 0 { droppedCounter.increment(by: dropped) }
        deliver(delivery, schedule: schedule)
    }

    /// After a batch of `offer(wake: false)`: wakes the reader if its interval has passed.
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    func wake(now: Int64) {
        var schedule: Int64?
        let delivery = state.withLock { state in state.wakeOrSchedule(now: now, interval: wakeInterval, schedule: &schedule) }
        deliver(delivery, schedule: schedule)
    }

    private func deliver(_ delivery: (CheckedContinuation<Event?, Never>, Event)?, schedule due: Int64?) {
        if let (waiter, event) = delivery {
            waiter.resume(returning: event)
        } else if let due {
            flusher.schedule(self, due: due)
        }
    }

    /// Hands over what waits now, whatever the interval (someone needs the newest packets: a
    /// clip triggered before the first batch arrived).
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    public func wakeNow() {
        let delivery = state.withLock { $0.takeWaiter(now: MonotonicTime.nanoseconds(), interval: 0, force: true) }
        if let (waiter, event) = delivery { waiter.resume(returning: event) }
    }

    /// The flusher's visit: hands over what waits once one and a half intervals have passed
    /// since the last wake-up (in a steady stream the next item usually comes sooner and wakes
    /// the reader itself; the flusher is for what the items do not wake). Returns when to visit
    /// again: after a hand-over, one and a half intervals on (the reader stays on the flusher's
    /// list, so the next batch it holds back does not have to wake the flusher to say so); while
    /// items wait that are not yet due, when they will be; nil when nothing waits on a visit
    /// that handed nothing over, or no one waits for it (the reader schedules itself again).
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    func flushIfDue(now: Int64, horizon: Int64) -> Int64? {
        let heldFor = wakeInterval + wakeInterval / 2
        var next: Int64?
        let delivery = state.withLock { state -> (CheckedContinuation<Event?, Never>, Event)? in
            if !state.closed, horizon - state.lastWake >= heldFor, let delivery = state.takeWaiter(now: now, interval: 0, force: true) {
                next = now + heldFor
                return delivery
            }
            if state.waiter != nil, !state.queue.isEmpty, !state.closed { next = state.lastWake + heldFor }
            state.scheduled = next != nil
            return nil
        }
        if let (waiter, event) = delivery { waiter.resume(returning: event) }
        return next
    }

    /// The next event, waiting for it; nil once the reader is closed or its task cancelled.
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    public func next() async -> Event? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
                let ready: Event?? = state.withLock { state in
                    if let event = state.pop() { return .some(event) }
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

    /// Every event that is waiting (at least one, waiting for it when none is); nil once the
    /// reader is closed or its task cancelled. One wake-up, one lock, however many items.
    @_specialize(exported: true, where Event == HubEvent)
    @_specialize(exported: true, where Event == FragmentEvent)
    public func nextBatch() async -> [Event]? {
        guard let first = await next() else { return nil }
        return state.withLock { state in
            var batch = [first]
            batch.reserveCapacity(state.queue.count + 1)
            while let event = state.pop() { batch.append(event) }
            return batch
        }
    }

    /// Every event that is waiting, without waiting: what a reader stopped by cancellation
    /// still has to handle.
    public func takeQueued() -> [Event] {
        state.withLock { state in
            var events: [Event] = []
            while let event = state.pop() { events.append(event) }
            return events
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
            defer { state.closed = true; state.queue.removeAll(); state.queuedPackets = 0 }
            return !state.closed
        }
        guard wasOpen else { return }
        wakeWaiter()
        onClose(self)
    }

    /// How far behind the reader is, in seconds: the oldest item's age, less what the reader's
    /// batching holds it by design while the reader waits (up to one and a half intervals, when
    /// the flusher hands it over).
    private func lag(age: Int64, waiting: Bool) -> Double {
        let held = waiting ? wakeInterval + wakeInterval / 2 + flusher.slackNanoseconds : 0
        return Double(Swift.max(0, age - held)) / 1e9
    }

    /// When the reader was last handed items (monotonic ns; for tests that check the interval
    /// from the hand-overs themselves rather than from when a busy test got to look).
    var lastWakeNanoseconds: Int64 { state.withLock { $0.lastWake } }

    public var statistics: ReaderStatistics {
        let now = MonotonicTime.nanoseconds()
        return state.withLock { state in
            let waiting = state.waiter != nil
            return ReaderStatistics(name: name, queued: state.queuedPackets, delivered: state.delivered, dropped: state.dropped,
                                    lagSeconds: state.queue.first.map { lag(age: now - $0.arrival, waiting: waiting) } ?? 0,
                                    waiting: waiting)
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let reader: HubReader<Event>
        public mutating func next() async -> Event? { await reader.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: self) }
}

extension HubReader: DeferredWake {}

public struct ReaderStatistics: Sendable, Codable {
    public let name: String
    public let queued: Int
    public let delivered: Int
    public let dropped: Int
    /// How long the oldest item has been waiting for this reader beyond what its batching holds
    /// it (`wakeInterval`) (0 when none waits): a reader that keeps up stays near 0; one that
    /// grows is falling behind.
    public let lagSeconds: Double
    /// The reader is waiting for its next item.
    public let waiting: Bool
}
