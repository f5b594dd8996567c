import Synchronization

/// Code that runs on a hub's publishing thread (the camera's own) for every event, in order:
/// no queue, no task woken, nothing dropped. For quick work every packet or part needs — the
/// camera's fragmenter, the clipper's pre-roll, the HLS window. A tap must not block (the
/// camera would wait) and must not publish to the hub that calls it.
public final class HubTap<Event: Sendable>: Sendable {
    public let name: String
    let handle: @Sendable ([Event]) -> Void
    /// The camera's demand, held while the tap is on (when it asked for it).
    let hold: DemandHold?

    init(name: String, hold: DemandHold?, handle: @escaping @Sendable ([Event]) -> Void) {
        self.name = name
        self.hold = hold
        self.handle = handle
    }
}

/// A hub's taps. Their lock is held around each publish (before the hub's own state lock), so
/// a tap added while events flow sees each one exactly once: first what the hub replays (the
/// streams or init segment and the cached GOP), then every later event.
final class HubTaps<Event: Sendable>: Sendable {
    private let taps = Mutex<[HubTap<Event>]>([])

    /// Runs `update` (the hub's change; `tapped`: whether any tap will want its events) and
    /// hands the events it returns to every tap, under the taps' lock.
    func publish(_ update: (_ tapped: Bool) -> [Event]) {
        taps.withLock { taps in
            let events = update(!taps.isEmpty)
            guard !events.isEmpty else { return }
            for tap in taps { tap.handle(events) }
        }
    }

    func add(_ tap: HubTap<Event>, replay: () -> [Event]) {
        taps.withLock { taps in
            let events = replay()
            if !events.isEmpty { tap.handle(events) }
            taps.append(tap)
        }
    }

    /// After it returns, the tap is not running and will not run again.
    func remove(_ tap: HubTap<Event>) {
        taps.withLock { taps in taps.removeAll { $0 === tap } }
        tap.hold?.release()
    }

    var names: [String] { taps.withLock { $0.map(\.name) } }
}
