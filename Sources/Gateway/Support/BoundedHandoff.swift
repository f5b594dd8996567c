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
}
