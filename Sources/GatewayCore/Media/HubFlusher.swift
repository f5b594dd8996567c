import Foundation
import Synchronization

/// A hub reader whose wake-up was put off (see `HubReader`'s `wakeInterval`).
protocol DeferredWake: AnyObject, Sendable {
    /// Hands over what waits if the interval has passed; true while something is still held.
    func flushIfDue(now: Int64) -> Bool
}

/// Delivers what readers hold back when no further item comes to wake them (a source that
/// went quiet, the last packets before a stall): one thread for the process, which ticks
/// every `tick` only while some reader is waiting for a deferred wake-up, and sleeps otherwise.
/// In a steady stream the next item wakes the reader first and the flusher finds nothing due.
final class HubFlusher: Sendable {
    static let shared = HubFlusher(tick: .milliseconds(25))

    private struct State {
        var readers: [any DeferredWake] = []
        var started = false
        var sleeping = false
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    private let tickMicroseconds: UInt32
    var tickNanoseconds: Int64 { Int64(tickMicroseconds) * 1000 }

    init(tick: Duration) {
        tickMicroseconds = UInt32(tick.components.seconds * 1_000_000 + tick.components.attoseconds / 1_000_000_000_000)
    }

    /// `reader` holds items back; visit it until it has handed them over.
    func schedule(_ reader: any DeferredWake) {
        let (start, signal) = state.withLock { state -> (Bool, Bool) in
            state.readers.append(reader)
            defer { state.started = true; state.sleeping = false }
            return (!state.started, state.sleeping)
        }
        if start {
            let thread = Thread { [self] in
                BlockingThread.nameCurrentThread("hub-flusher")
                run()
            }
            thread.stackSize = 256 << 10
            thread.start()
        } else if signal {
            wakeup.signal()
        }
    }

    private func run() {
        // It parks only after a second with nothing to do: with cameras running, readers are
        // scheduled again within a tick or two, and waking a parked thread costs more than a tick.
        let ticksBeforeParking = 40
        var idleTicks = 0
        while true {
            usleep(tickMicroseconds)
            let readers = state.withLock { state -> [any DeferredWake] in
                defer { state.readers = [] }
                return state.readers
            }
            let now = MonotonicTime.nanoseconds()
            let kept = readers.filter { $0.flushIfDue(now: now) }
            idleTicks = readers.isEmpty ? idleTicks + 1 : 0
            let park = state.withLock { state -> Bool in
                state.readers += kept
                if state.readers.isEmpty, idleTicks >= ticksBeforeParking { state.sleeping = true }
                return state.sleeping
            }
            if park {
                idleTicks = 0
                wakeup.wait()
            }
        }
    }
}
