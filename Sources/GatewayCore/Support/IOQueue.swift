import DequeModule
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own that runs jobs one at a time, in order: for file I/O (and FFmpeg calls
/// that write files) that must not block Swift's cooperative pool, which has only as many
/// threads as cores and also runs everyone's requests. `submit` queues a job without waiting
/// (a write whose failure is reported back); `perform` awaits a job's result. The order of jobs
/// is the order they were queued in, so a read queued after a write sees it.
///
/// The thread starts with the first job and ends after `idleSeconds` without one (the next job
/// starts another), or at `shutdown()` once the jobs already queued have run.
public final class IOQueue: @unchecked Sendable {
    private typealias Job = @Sendable () -> Void

    private let condition = NSCondition()
    private var jobs = Deque<Job>()
    private var stopping = false
    private var started = false
    public let name: String

    public let idleSeconds: Double

    public init(name: String, idleSeconds: Double = 30) {
        self.name = name
        self.idleSeconds = idleSeconds
    }

    /// Runs `job` on the thread, after the jobs queued before it; does not wait.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        let start = !started
        started = true
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [self] in loop() }
            thread.name = name
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `job` on the thread and returns its result.
    public func perform<T: Sendable>(_ job: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try job() }) }
        }
    }

    /// Lets the thread end once the queued jobs have run.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        BlockingThread.nameCurrentThread(name)
        while true {
            condition.lock()
            let idleUntil = Date(timeIntervalSinceNow: idleSeconds)
            while jobs.isEmpty, !stopping, condition.wait(until: idleUntil) {}
            guard let job = jobs.popFirst() else {
                started = false  // idle or stopping: the next job starts a new thread
                condition.unlock()
                return
            }
            condition.unlock()
            job()
        }
    }
}
