import Foundation

/// Runs blocking work (FFmpeg reads, device I/O) on a thread of its own, off Swift's cooperative
/// pool, which has only as many threads as cores. Cancelling the awaiting task calls
/// `onCancel`, which must make the blocking work return (e.g. `Demuxer.interrupt()`).
public enum BlockingThread {
    public static func run<T: Sendable>(
        name: String, onCancel: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let thread = Thread {
                    continuation.resume(with: Result { try body() })
                }
                thread.name = name
                thread.stackSize = 1 << 20
                thread.start()
            }
        } onCancel: {
            onCancel()
        }
    }
}
