import GatewayCore
import NIOCore
import ServiceLifecycle
import Synchronization

/// The bytes of HLS segments, parts and init segments as NIO buffers, shared by every response
/// while several players fetch them (docs/hls.md, "Serving"). The sink holds each resource as
/// exact-size arrays, and NIO writes only its own buffers, so a response is one copy of the
/// resource; once a resource is asked for a second time within `idle`, that copy is kept and
/// written by every later response without copying. A resource fetched once (one player) is
/// never kept, so a camera with a single player holds nothing here.
///
/// Bounded: at most `maximumEntries` resources tracked and `maximumBytes` kept; a kept buffer is
/// dropped once no response used it for `idle` (swept by requests and every 2 s by `run`), or to
/// make room (least recently used first).
final class ResourceBuffers: Service, Sendable {
    struct Entry {
        var buffer: ByteBuffer?
        var lastUse: Int64
    }

    struct State {
        var entries: [UInt64: Entry] = [:]
        var bytes = 0
        var lastSweep: Int64 = 0
    }

    let maximumEntries: Int
    let maximumBytes: Int
    let idle: Int64
    private let state = Mutex(State())

    init(maximumEntries: Int = 4096, maximumBytes: Int = 64 << 20, idleSeconds: Double = 6) {
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
        idle = Int64(idleSeconds * 1e9)
    }

    /// The resource's bytes in one buffer: the kept one, or a new copy (kept when the resource
    /// was asked for before).
    func buffer(for resource: HLSResource, now: Int64 = MonotonicTime.nanoseconds()) -> ByteBuffer {
        guard resource.identity != 0 else { return Self.copy(resource) }
        let (known, kept) = state.withLock { state -> (Bool, ByteBuffer?) in
            if now - state.lastSweep > 1_000_000_000 { sweep(&state, now: now) }
            guard var entry = state.entries[resource.identity] else {
                if state.entries.count < maximumEntries { state.entries[resource.identity] = Entry(buffer: nil, lastUse: now) }
                return (false, nil)
            }
            entry.lastUse = now
            state.entries[resource.identity] = entry
            return (true, entry.buffer)
        }
        if let kept { return kept }
        let buffer = Self.copy(resource)
        guard known else { return buffer }
        state.withLock { state in
            guard var entry = state.entries[resource.identity], entry.buffer == nil,
                  buffer.readableBytes <= maximumBytes else { return }
            makeRoom(&state, for: buffer.readableBytes)
            entry.buffer = buffer
            state.entries[resource.identity] = entry
            state.bytes += buffer.readableBytes
        }
        return buffer
    }

    /// What is kept: (resources, bytes).
    var kept: (count: Int, bytes: Int) {
        state.withLock { state in (state.entries.values.filter { $0.buffer != nil }.count, state.bytes) }
    }

    /// Drops what has not been used for `idle` (also done by requests, at most once a second).
    func sweep(now: Int64 = MonotonicTime.nanoseconds()) {
        state.withLock { sweep(&$0, now: now) }
    }

    /// Sweeps every few seconds, so that kept buffers go when the requests stop.
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                self.sweep()
            }
        }
    }

    private func sweep(_ state: inout State, now: Int64) {
        state.lastSweep = now
        for (identity, entry) in state.entries where now - entry.lastUse > idle {
            state.entries[identity] = nil
            state.bytes -= entry.buffer?.readableBytes ?? 0
        }
    }

    private func makeRoom(_ state: inout State, for size: Int) {
        while state.bytes + size > maximumBytes,
              let oldest = state.entries.filter({ $0.value.buffer != nil }).min(by: { $0.value.lastUse < $1.value.lastUse }) {
            state.entries[oldest.key] = nil
            state.bytes -= oldest.value.buffer?.readableBytes ?? 0
        }
    }

    static func copy(_ resource: HLSResource) -> ByteBuffer {
        RangeResponse.buffer(resource.chunks, size: resource.count)
    }
}
