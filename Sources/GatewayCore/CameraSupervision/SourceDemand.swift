import Synchronization

/// Whether anyone wants a camera's stream right now: viewers and recorders hold it, HLS
/// requests touch it for a while. An on-demand camera's supervisor connects while there is
/// demand and disconnects after it has been idle for its timeout.
public final class SourceDemand: Sendable {
    private struct State {
        var holds = 0
        /// Monotonic nanoseconds until which a touch keeps the demand.
        var touchedUntil: Int64 = 0
        /// When the last hold ended or the last touch expires.
        var idleSince: Int64 = MonotonicTime.nanoseconds()
        var waiters: [CheckedContinuation<Void, Never>] = []

        func isDemanded(at now: Int64) -> Bool { holds > 0 || touchedUntil > now }
    }

    private let state = Mutex(State())

    public init() {}

    /// Demand for as long as the returned hold lives (a viewer, a recording).
    public func hold() -> DemandHold {
        let waiters = state.withLock { state in
            state.holds += 1
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
        return DemandHold(self)
    }

    fileprivate func release() {
        state.withLock { state in
            state.holds -= 1
            if state.holds == 0 { state.idleSince = max(MonotonicTime.nanoseconds(), state.touchedUntil) }
        }
    }

    /// Demand for the next `seconds` (an HLS request: players come back within a segment).
    public func touch(for seconds: Double) {
        let now = MonotonicTime.nanoseconds()
        let waiters = state.withLock { state in
            state.touchedUntil = max(state.touchedUntil, now + Int64(seconds * 1e9))
            if state.holds == 0 { state.idleSince = state.touchedUntil }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    public var isDemanded: Bool {
        let now = MonotonicTime.nanoseconds()
        return state.withLock { $0.isDemanded(at: now) }
    }

    public var holders: Int { state.withLock { $0.holds } }

    /// Returns once there is demand (at once if there is), or when the task is cancelled.
    public func waitForDemand() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = MonotonicTime.nanoseconds()
                let ready = state.withLock { state in
                    if state.isDemanded(at: now) || Task.isCancelled { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Returns once nobody has wanted the stream for `timeout` (checked every `poll`).
    public func waitForIdle(timeout: Duration, poll: Duration = .milliseconds(250)) async throws {
        let timeoutNanoseconds = Int64(timeout.seconds * 1e9)
        while true {
            let now = MonotonicTime.nanoseconds()
            let idle = state.withLock { !$0.isDemanded(at: now) && now - $0.idleSince >= timeoutNanoseconds }
            if idle { return }
            try await Task.sleep(for: poll)
        }
    }
}

/// One holder's demand; ends at `release()` or when the hold is freed.
public final class DemandHold: Sendable {
    private let demand: SourceDemand
    private let released = Atomic<Bool>(false)

    fileprivate init(_ demand: SourceDemand) { self.demand = demand }

    public func release() {
        if released.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged { demand.release() }
    }

    deinit { release() }
}
