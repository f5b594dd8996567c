@testable import GatewayCore
import Metrics
import Synchronization
import Testing

/// `HubFlusher` with a reader of its own: a steady stream that the reader's interval holds back
/// still arrives whole and in order, and the flusher wakes per held batch, not on a clock.
@Suite struct HubFlusherTests {
    enum Item: HubEventKind {
        case item(Int)
        case skipped(count: Int)
        var skippedCount: Int? { if case .skipped(let count) = self { count } else { nil } }
        var isPayload: Bool { if case .item = self { true } else { false } }
    }

    @Test func aSteadyStreamArrivesWholeAndTheFlusherWakesPerHeldBatch() async throws {
        let flusher = HubFlusher(slack: .milliseconds(20))
        let reader = HubReader<Item>(name: "steady", capacity: 1_000, wakeInterval: .milliseconds(100),
                                     droppedCounter: Counter(label: "test_dropped"), flusher: flusher, onClose: { _ in })
        let consumer = Task {
            var received: [Int] = []
            while received.count < 30, let batch = await reader.nextBatch() {
                received += batch.compactMap { if case .item(let index) = $0 { index } else { nil } }
            }
            return received
        }
        // An item every 40 ms: after the first, each comes before the reader's 100 ms interval
        // has passed, so only the flusher hands them over (every 150 ms).
        let started = ContinuousClock.now
        for index in 0..<30 {
            reader.offer(.item(index), isSyncPoint: true)
            try await Task.sleep(for: .milliseconds(40))
        }
        let received = await consumer.value
        #expect(received == Array(0..<30))
        // 1.2 s of items: about 8 visits (and a wake-up to start); the flusher that ticked every
        // 25 ms woke 48 times. Bounded by the time the items really took (a busy CI run once
        // stretched the 1.2 s to 11 s): at most one wake-up per 60 ms, well under the ticker's 40 a second.
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let wakeUps = flusher.wakeUps.load(ordering: .relaxed)
        #expect(wakeUps >= 3, "the flusher handed nothing over")
        #expect(wakeUps <= Int((seconds + 0.3) / 0.06), "the flusher woke \(wakeUps) times in \(elapsed)")
        reader.close()
    }
}
