import CFFmpeg
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives the heap's free pages back to the system every ten seconds (glibc's `malloc_trim`).
///
/// glibc returns freed memory only from the top of each arena; what is freed below memory still
/// in use stays with the process. A camera frees and allocates its packets all the time (a GOP
/// cache that turns over every two seconds, a pre-roll that moves on), on many threads and so in
/// many arenas, and their free holes added up: 20 cameras with no sink had 134 MiB of PSS, of
/// which 50 MiB were free heap pages (84 MiB after a trim). A trim walks the free chunks and
/// releases their whole pages (`madvise`); the pages a camera reuses afterwards are faulted in
/// again — a few hundred per camera every ten seconds, against megabytes held for nothing.
/// `GATEWAY_MALLOC_TRIM=0` turns it off (to compare).
public enum MemoryTrimmer {
    private static let started = NSLock()
    nonisolated(unsafe) private static var running = false

    /// Starts the trimming thread (once; not where the C library has no `malloc_trim`).
    public static func start(every interval: TimeInterval = 10) {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["GATEWAY_MALLOC_TRIM"] != "0" else { return }
        started.lock()
        defer { started.unlock() }
        guard !running else { return }
        running = true
        let thread = Thread {
            BlockingThread.nameCurrentThread("memory-trim")
            while true {
                Thread.sleep(forTimeInterval: interval)
                trimNow()
            }
        }
        thread.stackSize = 128 << 10
        thread.start()
        #endif
    }

    /// Releases the free pages of every arena now; whether any were released.
    @discardableResult
    public static func trimNow() -> Bool {
        cgateway_malloc_trim() != 0
    }
}
