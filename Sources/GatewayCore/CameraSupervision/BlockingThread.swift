import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
                    nameCurrentThread(name)
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

    /// Names the calling thread as `top -H`, `perf` and debuggers show it (the kernel keeps 15
    /// bytes). Foundation's `Thread.name` set before `start()` does not reach the thread on Linux.
    public static func nameCurrentThread(_ name: String) {
        #if canImport(Glibc)
        var bytes = Array(name.utf8.prefix(15))
        bytes.append(0)
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = setThreadName(pthread_self(), $0.baseAddress!) }
        }
        #endif
    }
}

#if canImport(Glibc)
/// glibc's `pthread_setname_np`, which its module map leaves out (a GNU extension).
@_silgen_name("pthread_setname_np")
private func setThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
#endif
