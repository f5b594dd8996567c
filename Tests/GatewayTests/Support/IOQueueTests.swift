import Foundation
@testable import Gateway
@testable import GatewayCore
@testable import JSON
@testable import SocketIO
import Synchronization
import Testing

/// The I/O thread the recorder, the clipper and HLS directory storage write files on.
@Suite struct IOQueueTests {
    @Test func jobsRunInOrderOnTheQueuesOwnThread() async throws {
        let queue = IOQueue(name: "io-test")
        defer { queue.shutdown() }
        let seen = Mutex<[Int]>([])
        for index in 0..<200 { queue.submit { seen.withLock { $0.append(index) } } }
        // A read queued after the writes sees all of them, on the queue's thread.
        let (count, thread) = try await queue.perform { (seen.withLock { $0.count }, Thread.current.name ?? "") }
        #expect(count == 200)
        #expect(thread == "io-test")
        #expect(seen.withLock { $0 } == Array(0..<200))
    }

    @Test func performPassesErrorsBack() async {
        struct Refused: Error {}
        let queue = IOQueue(name: "io-test-errors")
        defer { queue.shutdown() }
        await #expect(throws: Refused.self) { try await queue.perform { throw Refused() } }
        let seven = try? await queue.perform { 7 }
        #expect(seven == 7)
    }

    @Test func aBlockedJobDoesNotHoldUpTheCooperativePool() async throws {
        let queue = IOQueue(name: "io-test-blocked")
        defer { queue.shutdown() }
        let released = Atomic(false)
        queue.submit { while !released.load(ordering: .acquiring) { usleep(1_000) } }
        // While the queue's thread is blocked, twice as many tasks as there are cores still run.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<ProcessInfo.processInfo.activeProcessorCount * 2 { group.addTask { try await Task.sleep(for: .milliseconds(5)) } }
            try await group.waitForAll()
        }
        released.store(true, ordering: .releasing)
        let after = try await queue.perform { true }
        #expect(after)
    }

    @Test func anIdleThreadEndsAndTheNextJobStartsAnother() async throws {
        let queue = IOQueue(name: "io-test-idle", idleSeconds: 0.02)
        #expect(try await queue.perform { 1 } == 1)
        try await Task.sleep(for: .milliseconds(200))  // the thread has ended by now
        let name = try await queue.perform { Thread.current.name ?? "" }
        #expect(name == "io-test-idle")
    }
}
