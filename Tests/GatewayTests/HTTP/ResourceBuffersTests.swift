import GatewayCore
import NIOCore
import Testing
@testable import Gateway

/// HLS resources as shared NIO buffers: kept only once a second request asks for them, bounded,
/// dropped when idle, and never kept without an identity.
@Suite struct ResourceBuffersTests {
    static func resource(_ identity: UInt64, size: Int = 1000) -> HLSResource {
        HLSResource(chunks: [[UInt8](repeating: UInt8(identity % 251), count: size / 2), [UInt8](repeating: 7, count: size - size / 2)],
                    contentType: "video/iso.segment", identity: identity)
    }

    static func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { $0.baseAddress }
    }

    @Test func aResourceAskedForTwiceIsKeptAndThenSharedByEveryResponse() {
        let buffers = ResourceBuffers()
        let segment = Self.resource(1)
        let first = buffers.buffer(for: segment, now: 0)
        #expect(Array(first.readableBytesView) == segment.joinedBytes())
        #expect(buffers.kept.count == 0, "one player's fetch keeps nothing")
        let second = buffers.buffer(for: segment, now: 100)
        #expect(buffers.kept == (1, 1000))
        let third = buffers.buffer(for: segment, now: 200)
        let fourth = buffers.buffer(for: segment, now: 300)
        #expect(Self.address(third) == Self.address(second) && Self.address(fourth) == Self.address(second), "no copy per response")
        #expect(Array(fourth.readableBytesView) == segment.joinedBytes())
        #expect(Self.address(first) != Self.address(second))
    }

    @Test func withoutAnIdentityEveryResponseIsACopyAndNothingIsKept() {
        let buffers = ResourceBuffers()
        let fromDisk = HLSResource(chunks: [[1, 2, 3]], contentType: "video/iso.segment")
        for time in 0..<3 { #expect(Array(buffers.buffer(for: fromDisk, now: Int64(time)).readableBytesView) == [1, 2, 3]) }
        #expect(buffers.kept.count == 0)
    }

    @Test func keptBuffersGoWhenIdleAndStayWithinTheirBounds() {
        let buffers = ResourceBuffers(maximumEntries: 100, maximumBytes: 2500, idleSeconds: 6)
        for identity: UInt64 in 1...3 {
            _ = buffers.buffer(for: Self.resource(identity), now: 0)
            _ = buffers.buffer(for: Self.resource(identity), now: 1)
        }
        // Room for two: the least recently used went.
        #expect(buffers.kept == (2, 2000))
        _ = buffers.buffer(for: Self.resource(3), now: 4_000_000_000)
        // Seven seconds later only what was used within the last six seconds is kept.
        _ = buffers.buffer(for: Self.resource(9), now: 9_000_000_000)
        #expect(buffers.kept == (1, 1000))
        _ = buffers.buffer(for: Self.resource(3), now: 16_000_000_000)
        #expect(buffers.kept.count == 0)
        // Bigger than the whole budget: served, never kept.
        let huge = Self.resource(20, size: 5000)
        for time: Int64 in 20_000_000_000...20_000_000_003 { #expect(buffers.buffer(for: huge, now: time).readableBytes == 5000) }
        #expect(buffers.kept.count == 0)
    }
}
