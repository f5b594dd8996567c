import Foundation

/// Blocking work on a thread of its own (libav reads) handing results to an async consumer,
/// at most `capacity` ahead of it: the producer waits while the consumer is behind, and stops
/// (its `send` throws) once the consumer has gone — a client that leaves ends the work.
public final class BoundedHandoff<Element: Sendable>: @unchecked Sendable {
    // NSCondition, not DispatchSemaphore: libdispatch traps when a semaphore is released while
    // below its initial value, which is exactly what a consumer that leaves early does.
    private let condition = NSCondition()
    private var room: Int
    private var cancelled = false
    private let continuation: AsyncThrowingStream<Element, any Error>.Continuation
    public let elements: AsyncThrowingStream<Element, any Error>

    public init(capacity: Int) {
        room = capacity
        (elements, continuation) = AsyncThrowingStream.makeStream(of: Element.self)
    }

    /// Producer: waits for room, then hands `element` over; throws once the consumer is gone.
    public func send(_ element: Element) throws {
        condition.lock()
        while room == 0 && !cancelled { condition.wait() }
        let gone = cancelled
        if !gone { room -= 1 }
        condition.unlock()
        if gone { throw CancellationError() }
        continuation.yield(element)
    }

    /// Producer: no more elements (with the error that ended them, if any).
    public func finish(throwing error: (any Error)? = nil) { continuation.finish(throwing: error) }

    /// Consumer: one element was dealt with, make room for the next.
    public func taken() {
        condition.lock()
        room += 1
        condition.signal()
        condition.unlock()
    }

    /// Consumer: gone; the producer's next (or current) `send` throws.
    public func cancel() {
        condition.lock()
        let already = cancelled
        cancelled = true
        condition.broadcast()
        condition.unlock()
        if !already { continuation.finish() }
    }

    public var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Runs `produce` on a thread of its own (`BlockingThread` named `name`), handing each
    /// element it `send`s to `consume`, at most `capacity` ahead. When `consume` returns false
    /// or throws, or the caller is cancelled (a client that left), the producer's next `send`
    /// throws and its thread ends. True when everything `produce` made was consumed.
    @discardableResult
    public static func pump(name: String, capacity: Int, produce: @escaping @Sendable (_ send: (Element) throws -> Void) throws -> Void,
                            consume: (Element) async throws -> Bool) async throws -> Bool {
        let handoff = BoundedHandoff<Element>(capacity: capacity)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await BlockingThread.run(name: name, onCancel: handoff.cancel) {
                    do {
                        try produce(handoff.send)
                        handoff.finish()
                    } catch {
                        handoff.finish(throwing: error)
                    }
                }
            }
            defer { handoff.cancel() }
            for try await element in handoff.elements {
                guard try await consume(element), !Task.isCancelled else { return false }
                handoff.taken()
            }
            return !handoff.isCancelled && !Task.isCancelled
        }
    }
}
