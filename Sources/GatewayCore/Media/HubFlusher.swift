import Foundation
import Synchronization

/// A hub reader whose wake-up was put off (see `HubReader`'s `wakeInterval`).
protocol DeferredWake: AnyObject, Sendable {
    /// The flusher's visit: hands over what waits if it is due by `horizon` (monotonic ns).
    /// Returns when to visit next, or nil to be forgotten until the reader schedules itself again.
    func flushIfDue(now: Int64, horizon: Int64) -> Int64?
}

/// Delivers what readers hold back when no further item comes to wake them (a source that
/// went quiet, the last packets before a stall): one thread for the process, which sleeps until
/// the earliest reader is due and is woken early only when a reader due sooner is scheduled.
///
/// It used to tick every 25 ms while any camera ran — 40 wake-ups a second, which with one
/// camera was half of that camera's CPU. Now a reader stays on the flusher's list after a visit
/// hands it a batch (its next batch is due one and a half intervals later, and it would only
/// schedule itself again, waking the flusher, a moment after), so in a steady stream the flusher
/// wakes once per reader batch that the source's own items did not deliver, and never for
/// readers the items wake themselves. Readers due within `slack` of each other share a wake-up.
final class HubFlusher: Sendable {
    static let shared = HubFlusher(slack: .milliseconds(20))

    private struct Entry {
        let reader: any DeferredWake
        var due: Int64
    }

    private struct State {
        var entries: [Entry] = []
        var started = false
        /// When the thread will next look (Int64.max: not before it is signalled).
        var plannedWake: Int64 = .max
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    /// How early a reader may be visited to share a wake-up with another, and how late a
    /// visit may come (the thread's timer and scheduling): what `HubReader`'s lag allows for.
    let slackNanoseconds: Int64
    /// How many times the thread has woken (for tests).
    let wakeUps = Atomic<Int>(0)

    init(slack: Duration) {
        slackNanoseconds = slack.components.seconds * 1_000_000_000 + slack.components.attoseconds / 1_000_000_000
    }

    /// `reader` holds items back until `due` (monotonic ns): visit it then.
    func schedule(_ reader: any DeferredWake, due: Int64) {
        let (start, signal) = state.withLock { state -> (Bool, Bool) in
            state.entries.append(Entry(reader: reader, due: due))
            defer { state.started = true }
            guard state.started else { return (true, false) }
            guard due < state.plannedWake - slackNanoseconds else { return (false, false) }
            state.plannedWake = due
            return (false, true)
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
        while true {
            wakeUps.add(1, ordering: .relaxed)
            let now = MonotonicTime.nanoseconds()
            let horizon = now + slackNanoseconds
            let visits = state.withLock { state -> [any DeferredWake] in
                var visits: [any DeferredWake] = []
                state.entries.removeAll { entry in
                    guard entry.due <= horizon else { return false }
                    visits.append(entry.reader)
                    return true
                }
                return visits
            }
            var again: [Entry] = []
            for reader in visits {
                if let due = reader.flushIfDue(now: now, horizon: horizon) { again.append(Entry(reader: reader, due: Swift.max(due, horizon + slackNanoseconds))) }
            }
            let sleep = state.withLock { state -> Int64? in
                state.entries += again
                let earliest = state.entries.lazy.map(\.due).min() ?? .max
                state.plannedWake = earliest
                return earliest == .max ? nil : earliest
            }
            guard let sleep else {
                wakeup.wait()
                continue
            }
            let wait = sleep - MonotonicTime.nanoseconds()
            // A reader due now, or within the slack, is visited without sleeping.
            if wait > slackNanoseconds / 2 { _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(wait))) }
        }
    }
}
