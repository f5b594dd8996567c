import GatewayCore
import Synchronization

/// The clipper's pre-roll, kept on the camera's own thread: a tap on the hub (`StreamHub.tap`),
/// so keeping a packet is a lock and a deque push, with no task woken and no queue in between.
/// While clips are being written (`startClip` until `stopCollecting`) the tap also queues each
/// event for them and signals the clipper's task, once per batch.
final class ClipTap: Sendable {
    /// What a clip starts with: the pre-roll, and the sequence number of its last event (the
    /// clip takes the queued events after it).
    struct Start {
        let streams: StreamSet
        let packets: [MediaPacket]
        /// Media time (seconds) of the newest packet kept: the clip's "now".
        let newest: Double
        let sequence: Int
    }

    private struct State {
        var buffer: ClipBuffer
        var streams: StreamSet?
        /// Counts every event the tap took.
        var sequence = 0
        var collecting = false
        var queued: [(sequence: Int, event: HubEvent)] = []
    }

    private let state: Mutex<State>
    private let signal: AsyncStream<Void>.Continuation
    /// Yields when events are queued for the clips in progress.
    let signals: AsyncStream<Void>

    init(keepSeconds: Double, maxBytes: Int) {
        state = Mutex(State(buffer: ClipBuffer(keepSeconds: keepSeconds, maxBytes: maxBytes)))
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// On the publishing thread (the hub's tap).
    func handle(_ events: [HubEvent]) {
        let wake = state.withLock { state -> Bool in
            for event in events {
                state.sequence += 1
                switch event {
                case .streams(let streams):
                    state.streams = streams
                    state.buffer.reset()
                case .packet(let packet):
                    state.buffer.append(packet)
                case .skipped:
                    state.buffer.reset()
                }
                if state.collecting { state.queued.append((state.sequence, event)) }
            }
            return state.collecting && !state.queued.isEmpty
        }
        if wake { signal.yield() }
    }

    /// The pre-roll from the keyframe at or before (newest − `pre`), and from now on every
    /// event is queued until `stopCollecting`; nil before the first keyframe.
    func startClip(pre: Double) -> Start? {
        state.withLock { state in
            guard let streams = state.streams, let newest = state.buffer.newest else { return nil }
            state.collecting = true
            return Start(streams: streams, packets: state.buffer.packets(from: newest - pre), newest: newest, sequence: state.sequence)
        }
    }

    /// The events queued since the last call, in order.
    func takeQueued() -> [(sequence: Int, event: HubEvent)] {
        state.withLock { state in
            defer { state.queued = [] }
            return state.queued
        }
    }

    /// No clip is being written (or about to be): stop queueing.
    func stopCollecting() {
        state.withLock { state in
            state.collecting = false
            state.queued = []
        }
    }

    var hasPicture: Bool { state.withLock { $0.buffer.newest != nil } }
    var bufferedBytes: Int { state.withLock { $0.buffer.bytes } }

    /// Makes the clipper's task look at the queue.
    func kick() { signal.yield() }

    func finish() { signal.finish() }
}
