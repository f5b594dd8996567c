import Gateway
@testable import GatewayCore
import JSON
import SocketIO
import Synchronization
import Testing

@Suite struct StreamHubTests {
    /// Real codec parameters from the test clip, and synthetic packets: keyframe every `gop`.
    func fixture() async throws -> StreamSet { try Demuxer(url: try await TestMedia.clip()).streams }

    func videoPacket(_ index: Int, gop: Int, streams: StreamSet) -> MediaPacket {
        let video = streams.video!
        return MediaPacket(streamIndex: video.index, kind: .video, pts: Int64(index) * 512, dts: Int64(index) * 512,
                           duration: 512, isKeyframe: index % gop == 0, timeBase: video.timeBase,
                           payload: PacketBuffer(bytes: [UInt8](repeating: UInt8(index % 256), count: 100)))
    }

    func packetIndex(_ packet: MediaPacket) -> Int { Int(packet.dts! / 512) }

    @Test func aLateJoinerStartsOnTheLatestKeyframe() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "late")
        hub.begin(streams)
        for index in 0..<23 { hub.publish(videoPacket(index, gop: 10, streams: streams)) }
        let reader = hub.subscribe(name: "late")
        defer { reader.close() }
        guard case .streams(let received) = await reader.next() else { Issue.record("first event is not the streams"); return }
        #expect(received.streams.count == streams.streams.count)
        var indices: [Int] = []
        for _ in 0..<3 {
            guard case .packet(let packet) = await reader.next() else { Issue.record("expected a packet"); return }
            indices.append(packetIndex(packet))
        }
        #expect(indices == [20, 21, 22])
        hub.publish(videoPacket(23, gop: 10, streams: streams))
        guard case .packet(let live) = await reader.next() else { Issue.record("expected the live packet"); return }
        #expect(packetIndex(live) == 23)
    }

    @Test func aReaderJoiningBeforeTheFirstKeyframeWaitsForIt() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "wait")
        hub.begin(streams)
        let reader = hub.subscribe(name: "early")
        defer { reader.close() }
        for index in 5..<12 { hub.publish(videoPacket(index, gop: 10, streams: streams)) }
        guard case .streams = await reader.next() else { Issue.record("expected streams"); return }
        guard case .skipped(let count) = await reader.next() else { Issue.record("expected a skip"); return }
        #expect(count == 5)
        guard case .packet(let first) = await reader.next() else { Issue.record("expected a packet"); return }
        #expect(packetIndex(first) == 10 && first.isKeyframe)
    }

    @Test func aStalledReaderSkipsToTheNextKeyframeWhileAFastOneGetsEverything() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "fanout")
        hub.begin(streams)
        let slow = hub.subscribe(name: "slow", capacity: 10)
        let fast = hub.subscribe(name: "fast", capacity: 10)
        defer { slow.close(); fast.close() }
        guard case .streams = await fast.next() else { Issue.record("expected streams"); return }

        let consumer = Task { () -> [Int] in
            var received: [Int] = []
            while received.count < 105, let event = await fast.next() {
                if case .packet(let packet) = event { received.append(packetIndex(packet)) }
            }
            return received
        }
        for index in 0..<100 {
            hub.publish(videoPacket(index, gop: 20, streams: streams))
            // Give the fast reader time to drain its small queue; the slow one never reads.
            #expect(try await eventually(timeout: .seconds(5)) { fast.statistics.queued == 0 })
        }
        #expect(slow.statistics.dropped == 100)
        for index in 100..<105 { hub.publish(videoPacket(index, gop: 20, streams: streams)) }
        #expect(await consumer.value == Array(0..<105))

        guard case .streams = await slow.next() else { Issue.record("expected streams"); return }
        guard case .skipped(let count) = await slow.next() else { Issue.record("expected a skip"); return }
        // One notice for everything lost since the last delivery: all of 0..<100.
        #expect(count == 100)
        var resumed: [MediaPacket] = []
        for _ in 0..<5 {
            if case .packet(let packet) = await slow.next() { resumed.append(packet) }
        }
        #expect(resumed.map(packetIndex) == Array(100..<105))
        #expect(resumed.first?.isKeyframe == true)
        #expect(fast.statistics.dropped == 0)
        #expect(hub.statistics.readers.map(\.name) == ["fast", "slow"])
    }

    @Test func aNewSessionIsAnnouncedToEveryReader() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "session")
        let reader = hub.subscribe(name: "r")
        defer { reader.close() }
        hub.begin(streams)
        hub.publish(videoPacket(0, gop: 10, streams: streams))
        hub.begin(streams)
        guard case .streams(let first) = await reader.next() else { Issue.record("expected streams"); return }
        guard case .packet = await reader.next() else { Issue.record("expected a packet"); return }
        guard case .streams(let second) = await reader.next() else { Issue.record("expected new streams"); return }
        #expect(second.generation == first.generation + 1)
    }

    @Test func closingAReaderEndsItsIterationAndRemovesIt() async throws {
        let hub = StreamHub(cameraID: "close")
        let reader = hub.subscribe(name: "r")
        let waiting = Task { await reader.next() }
        try await Task.sleep(for: .milliseconds(50))
        reader.close()
        #expect(await waiting.value == nil)
        #expect(hub.statistics.readers.isEmpty)
    }

    @Test func cancellingAWaitingReaderReturnsNil() async throws {
        let hub = StreamHub(cameraID: "cancel")
        let reader = hub.subscribe(name: "r")
        defer { reader.close() }
        let waiting = Task { await reader.next() }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
    }

    /// A reader with a wake interval is woken once for a burst and takes it whole; what is left
    /// waiting when the source goes quiet still arrives (the flusher), in order.
    @Test func aBatchedReaderTakesABurstInOneWakeAndTheLastPacketsStillArrive() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "batched")
        hub.begin(streams)
        // Half a second: the burst below must come within one interval of the first hand-over,
        // however slowly a busy run gets there.
        let reader = hub.subscribe(name: "batched", wakeInterval: .milliseconds(500))
        defer { reader.close() }
        guard case .streams? = await reader.nextBatch()?.first else { Issue.record("first event is not the streams"); return }
        /// Until the reader waits for its next batch (a hang guard, not a timing).
        func untilWaiting() async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while hub.statistics.readers.first?.waiting != true, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        }
        // Nothing for longer than the interval: the first packet is handed over at once.
        try await Task.sleep(for: .milliseconds(600))
        let waiting = Task { await reader.nextBatch() }
        try await untilWaiting()
        hub.publish(videoPacket(0, gop: 10, streams: streams))
        let first = await waiting.value ?? []
        // The interval runs from that hand-over: the reader's own timestamps, not when this
        // task got to look (under load that came 70 ms and more after the hand-over).
        let handedFirst = reader.lastWakeNanoseconds
        let started = ContinuousClock.now
        #expect(first.count == 1)
        // A burst right after: held back until the interval has passed (the flusher hands it
        // over, as no later packet comes), then taken in one batch.
        let burst = Task { await reader.nextBatch() }
        try await untilWaiting()
        for index in 1..<6 { hub.publish(videoPacket(index, gop: 10, streams: streams)) }
        let batch = await burst.value ?? []
        let held = Duration.nanoseconds(reader.lastWakeNanoseconds - handedFirst)
        let waited = ContinuousClock.now - started
        let indices = batch.compactMap { event -> Int? in if case .packet(let packet) = event { packetIndex(packet) } else { nil } }
        #expect(indices == [1, 2, 3, 4, 5])
        #expect(held >= .milliseconds(500), "the burst was handed over before the interval passed (\(held))")
        #expect(waited < .seconds(5), "the flusher never handed the burst over")
        #expect(hub.statistics.readers.first?.delivered == 7)
    }

    /// Packets a reader has not taken are its lag, in the hub's statistics; taking them ends it.
    @Test func aReaderThatDoesNotTakeItsPacketsShowsAsLag() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "lag")
        hub.begin(streams)
        let reader = hub.subscribe(name: "sleepy")
        defer { reader.close() }
        for index in 0..<5 { hub.publish(videoPacket(index, gop: 10, streams: streams)) }
        try await Task.sleep(for: .milliseconds(300))
        let behind = hub.statistics
        #expect(behind.lagSeconds >= 0.3)
        #expect(behind.maximumLagSeconds >= behind.lagSeconds)
        _ = await reader.nextBatch()
        #expect(hub.statistics.lagSeconds == 0)
        #expect(hub.statistics.maximumLagSeconds >= 0.3)
        hub.lateness(seconds: 1.5)
        #expect(hub.statistics.lagSeconds == 1.5)
    }

    /// What a batched reader holds by design while it waits for its interval is not lag (the
    /// recorder takes its parts once a second and keeps up).
    @Test func aBatchedReaderWaitingForItsIntervalIsNotBehind() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "batched-lag")
        hub.begin(streams)
        // An interval far longer than the test: the held packet cannot fall due however slowly a
        // busy run gets to look (with 2 s, CI once looked after the flusher had handed it over).
        let reader = hub.subscribe(name: "batched", wakeInterval: .seconds(20))
        defer { reader.close() }
        let taking = Task { while await reader.nextBatch() != nil {} }
        defer { taking.cancel() }
        // Waits on state, not on fixed sleeps: a busy test run may start the reader late.
        #expect(try await eventually { hub.statistics.readers.first?.waiting == true })  // the reader waits
        hub.publish(videoPacket(0, gop: 10, streams: streams))  // after a quiet spell: handed over at once
        #expect(try await eventually { hub.statistics.readers.first.map { $0.waiting && $0.queued == 0 } == true })
        hub.publish(videoPacket(1, gop: 10, streams: streams))  // held until the interval has passed
        try await Task.sleep(for: .milliseconds(300))
        let held = try #require(hub.statistics.readers.first)
        #expect(held.waiting && held.queued == 1, "\(held)")
        #expect(held.lagSeconds == 0)
        #expect(hub.statistics.lagSeconds == 0)
    }

    /// A tap added while another thread publishes sees the streams, the cached GOP, then every
    /// later packet exactly once and in order; after `untap` it sees nothing.
    @Test func aTapAddedWhilePacketsFlowSeesEachPacketOnceInOrder() async throws {
        let streams = try await fixture()
        let hub = StreamHub(cameraID: "tap")
        hub.begin(streams)
        let publishing = Task.detached {
            // Batches of 7 (as a paced source publishes), packets 0..<2996.
            for start in stride(from: 0, to: 2996, by: 7) {
                hub.publish(contentsOf: (start..<(start + 7)).map { self.videoPacket($0, gop: 50, streams: streams) })
            }
        }
        try await Task.sleep(for: .milliseconds(2))
        let seen = Mutex<[HubEvent]>([])
        let tap = hub.tap(name: "test") { events in seen.withLock { $0.append(contentsOf: events) } }
        await publishing.value
        hub.untap(tap)
        hub.publish(videoPacket(2996, gop: 50, streams: streams))
        let events = seen.withLock { $0 }
        guard case .streams = events.first else { Issue.record("the first event is not the streams"); return }
        let indices = events.dropFirst().compactMap { event -> Int? in if case .packet(let packet) = event { packetIndex(packet) } else { nil } }
        #expect(indices.count == events.count - 1)
        let first = try #require(indices.first)
        #expect(first % 50 == 0, "the tap starts on the cached GOP's keyframe")
        #expect(indices == Array(first..<2996), "every packet once, in order, none after untap")
        #expect(hub.tapNames.isEmpty)
    }
}

extension HubEvent: Equatable {
    public static func == (lhs: HubEvent, rhs: HubEvent) -> Bool {
        switch (lhs, rhs) {
        case (.streams(let a), .streams(let b)): a.generation == b.generation
        case (.packet(let a), .packet(let b)): a.dts == b.dts && a.streamIndex == b.streamIndex
        case (.skipped(let a), .skipped(let b)): a == b
        default: false
        }
    }
}
