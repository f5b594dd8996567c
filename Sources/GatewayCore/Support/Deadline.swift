import Synchronization

/// Work that must answer by a deadline even when what it awaits does not heed cancellation (a
/// database request on a connection whose peer vanished): a task group would wait for its
/// stuck child, this does not. At the deadline (or when the caller is cancelled) the work is
/// cancelled and left to end on its own; `onTimeout` may close what it is stuck on.
public enum Deadline {
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var answer: Result<T, any Error>?
            var continuation: CheckedContinuation<Result<T, any Error>, Never>?
            var resumed = false
            var work: Task<Void, Never>?
            var timer: Task<Void, Never>?
        }
        private let state = Mutex(State())

        /// The caller waits on `continuation`; answered at once if the race is already settled.
        func wait(_ continuation: CheckedContinuation<Result<T, any Error>, Never>) {
            let ready = state.withLock { state -> Result<T, any Error>? in
                guard let answer = state.answer else { state.continuation = continuation; return nil }
                state.resumed = true
                return answer
            }
            if let ready { continuation.resume(returning: ready) }
        }

        func setWork(_ work: Task<Void, Never>) { state.withLock { $0.work = work } }

        /// The deadline's timer, cancelled as soon as the race is settled (no sleeping task per request).
        func setTimer(_ timer: Task<Void, Never>) {
            let settled = state.withLock { state -> Bool in
                state.timer = timer
                return state.answer != nil
            }
            if settled { timer.cancel() }
        }

        /// Settles the race with `result` if nothing settled it yet; whether it did.
        @discardableResult
        func answer(_ result: Result<T, any Error>) -> Bool {
            let (first, continuation, timer) = state.withLock { state -> (Bool, CheckedContinuation<Result<T, any Error>, Never>?, Task<Void, Never>?) in
                guard state.answer == nil else { return (false, nil, nil) }
                state.answer = result
                guard let continuation = state.continuation, !state.resumed else { return (true, nil, state.timer) }
                state.resumed = true
                return (true, continuation, state.timer)
            }
            continuation?.resume(returning: result)
            timer?.cancel()
            return first
        }

        func cancelWork() { state.withLock { $0.work }?.cancel() }
    }

    public static func run<T: Sendable>(seconds: Double, timeout: @escaping @Sendable () -> any Error,
                                        onTimeout: @escaping @Sendable () -> Void = {},
                                        _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        race.setWork(Task {
            do { race.answer(.success(try await body())) } catch { race.answer(.failure(error)) }
        })
        race.setTimer(Task {
            guard (try? await Task.sleep(for: .milliseconds(Int64(max(seconds, 0) * 1000)))) != nil else { return }
            if race.answer(.failure(timeout())) {
                race.cancelWork()
                onTimeout()
            }
        })
        let result: Result<T, any Error> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in race.wait(continuation) }
        } onCancel: {
            if race.answer(.failure(CancellationError())) { race.cancelWork() }
        }
        return try result.get()
    }
}
