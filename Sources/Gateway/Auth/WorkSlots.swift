import Synchronization
import GatewayCore

/// Counts work in progress (recording playbacks) in all and per user, and refuses more than
/// the limits allow: a held `Slot` is given back when the work ends.
public final class WorkSlots: Sendable {
    private let total: Int
    private let perUser: Int
    private let state = Mutex<(all: Int, byUser: [String: Int])>((0, [:]))

    public init(total: Int, perUser: Int) {
        self.total = total
        self.perUser = perUser
    }

    /// A slot for `principal`, or 429 when the gateway or this user has too many running.
    public func acquire(for principal: Principal, what: String) throws -> Slot {
        let user = principal.username
        let exempt = principal.isAdmin
        let granted = state.withLock { state -> Bool in
            guard state.all < total, exempt || state.byUser[user, default: 0] < perUser else { return false }
            state.all += 1
            state.byUser[user, default: 0] += 1
            return true
        }
        guard granted else { throw GatewayError(.tooManyPlaybacks, "too many playbacks at once; try again shortly", retryAfter: 5) }
        return Slot { [self] in
            state.withLock { state in
                state.all -= 1
                let left = state.byUser[user, default: 1] - 1
                state.byUser[user] = left > 0 ? left : nil
            }
        }
    }

    /// Held work; `release()` (once) gives it back.
    public final class Slot: Sendable {
        private let onRelease: @Sendable () -> Void
        private let released = Atomic<Bool>(false)
        init(onRelease: @escaping @Sendable () -> Void) { self.onRelease = onRelease }
        public func release() {
            if !released.exchange(true, ordering: .acquiringAndReleasing) { onRelease() }
        }
        deinit { release() }
    }
}
