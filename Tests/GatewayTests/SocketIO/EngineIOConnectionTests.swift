@testable import SocketIO
import Synchronization
import Testing

/// One live session (`EngineIOConnection`) without sockets: what its waiters and its inbox do.
@Suite struct EngineIOConnectionTests {
    let configuration = EngineIOSession.Configuration(pingInterval: 30, pingTimeout: 20, maxPayload: 1_000_000, handshakeTimeout: 30)

    func connection() -> EngineIOConnection {
        EngineIOConnection(session: EngineIOSession(id: "sid", transport: .polling, configuration: configuration, now: EngineIOClock.seconds()),
                           request: HandshakeRequest(query: [:], headers: [:], remoteAddress: "127.0.0.1"), socket: nil, forget: { _ in })
    }

    /// A live viewer that is stopped (a revoked grant cancels it) while its client is not
    /// reading must give up at once: a cancelled sleep returns immediately, and a wait that did
    /// not look at cancellation span on its thread until its timeout (with tasks on the event
    /// loops, that thread's sockets waited with it).
    @Test func waitingForRoomEndsAtOnceWhenTheWaiterIsCancelled() async {
        let connection = connection()
        connection.send([.text(String(repeating: "x", count: 10_000))])
        #expect(connection.bufferedBytes >= 10_000)
        // Timed inside the task, so that a busy test run (other suites on the same threads)
        // does not count: a wait that ignores cancellation takes its whole 30 s here.
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            let started = ContinuousClock.now
            let room = await connection.waitForRoom(maxBuffered: 0, timeout: .seconds(30))
            return (room, ContinuousClock.now - started)
        }
        let (room, waited) = await waiter.value
        #expect(room == false)
        #expect(waited < .seconds(20))  // well under the 30 s timeout: the cancellation ended it
    }

    /// Messages posted in several batches reach the handler one at a time and in order, also
    /// when the handler suspends in between.
    @Test func postedMessagesReachTheHandlerOneAtATimeInOrder() async {
        let connection = connection()
        let (seen, record) = AsyncStream.makeStream(of: String.self)
        let busy = Mutex(0)
        let overlapped = Mutex(false)
        connection.received(posted: [.message(.text("a")), .message(.text("b"))])
        connection.setHandlers(onMessage: { data in
            if busy.withLock({ $0 += 1; return $0 }) > 1 { overlapped.withLock { $0 = true } }
            try? await Task.sleep(for: .milliseconds(2))
            if case .text(let text) = data { record.yield(text) }
            busy.withLock { $0 -= 1 }
        }, onClose: { _ in })
        connection.received(posted: [.message(.text("c"))])
        connection.received(posted: [.message(.text("d")), .message(.text("e"))])
        var order: [String] = []
        for await text in seen {
            order.append(text)
            if order.count == 5 { break }
        }
        #expect(order == ["a", "b", "c", "d", "e"])
        #expect(overlapped.withLock { $0 } == false)
    }
}
