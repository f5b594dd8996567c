import Foundation
import NIOCore
import NIOPosix

/// Runs Swift concurrency's global executor on NIO's event loops (`MultiThreadedEventLoopGroup.singleton`),
/// so that a task woken by a channel, and the channel write it ends with, stay on one thread
/// instead of hopping between the cooperative pool and an event loop (a futex wake-up and a
/// context switch per hop). Every blocking call in this project already runs on a thread of its
/// own (`BlockingThread`, `NIOThreadPool`), which this requires: a task that blocks would now
/// hold up that loop's sockets. See docs/architecture.md, "Threads".
public enum SwiftConcurrencyOnEventLoops {
    /// The environment variable that turns it off (`0`), for comparisons.
    public static let switchVariable = "GATEWAY_TASKS_ON_EVENT_LOOPS"

    /// Call first thing in `main`, on the main thread, before any task is created. Returns
    /// whether the hook is installed (false when turned off or when this runtime has no hook).
    @discardableResult
    public static func install() -> Bool {
        if ProcessInfo.processInfo.environment[switchVariable] == "0" { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
