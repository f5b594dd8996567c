import GatewayCore
import JSON
import Logging
import NIOCore
import StoragePostgres
import Testing
@testable import Gateway

/// The pieces of a cluster (docs/scale-out.md): the lock session on a real PostgreSQL, the
/// ranking, the signature of calls between nodes, and the relay's framing.
@Suite struct ClusterTests {
    func backend(_ storage: PostgresStorage) throws -> any ClusterBackend {
        try storage.makeCluster(logger: Logger(label: "test"), timeout: 2)
    }

    func node(_ id: String) -> ClusterNodeInfo { ClusterNodeInfo(id: id, url: "http://127.0.0.1:1/\(id)", weight: 1, maxCameras: 10) }

    @Test func aCameraLockIsHeldByOneSessionAndGoesWithIt() async throws {
        let url = try TestPostgres.newDatabase()
        let storage = try await TestPostgres.storage(url)
        let a = try backend(storage), b = try backend(storage)
        try await a.join(node("a"))
        try await b.join(node("b"))
        // A second process with the same node id is refused while the first lives.
        let twin = try backend(storage)
        await #expect(throws: StorageError.self) { try await twin.join(node("a")) }

        let key = ClusterKeys.camera("door")
        #expect(try await a.tryLock(key))
        #expect(try await !b.tryLock(key))
        var snapshot = try await b.heartbeat(states: .object(JSONObject([("door", .string("x"))])))
        #expect(snapshot.owner(of: "door")?.id == "a")
        #expect(snapshot.nodes.map(\.id) == ["a", "b"])
        // Both sessions hold their node locks; b's heartbeat is a moment old (a's dates from its
        // join, which on a busy machine may be seconds ago).
        #expect(snapshot.nodes.allSatisfy { snapshot.isSessionOpen($0) })
        #expect(try #require(snapshot.nodes.first { $0.id == "b" }).heartbeatAge < 5)

        // Draining is stored for the node; its lock stays until it gives it back.
        #expect(try await b.setDraining(nodeID: "a", true))
        #expect(try await !b.setDraining(nodeID: "nobody", true))
        snapshot = try await a.heartbeat(states: .object(JSONObject()))
        #expect(snapshot.nodes.first { $0.id == "a" }?.draining == true)
        try await a.unlock(key)
        #expect(try await b.tryLock(key))
        try await b.unlock(key)

        // A node whose session ends loses its locks at once: another takes them.
        #expect(try await a.tryLock(key))
        await a.leave()
        // The server ends the session as soon as it reads the goodbye (milliseconds).
        for _ in 0..<40 {
            snapshot = try await b.heartbeat(states: .object(JSONObject()))
            if snapshot.owner(of: "door") == nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(snapshot.owner(of: "door") == nil)
        #expect(snapshot.nodes.first { $0.id == "a" }.map { snapshot.isSessionOpen($0) } == false)
        #expect(try await b.tryLock(key))

        // Ending another node's session (what the others do to a node whose heartbeat stopped).
        let c = try backend(storage)
        try await c.join(node("c"))
        #expect(try await c.tryLock(ClusterKeys.camera("yard")))
        snapshot = try await b.heartbeat(states: .object(JSONObject()))
        let session = try #require(snapshot.nodes.first { $0.id == "c" }).lockSession
        try await b.terminate(session: session)
        for _ in 0..<100 {
            snapshot = try await b.heartbeat(states: .object(JSONObject()))
            if snapshot.owner(of: "yard") == nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(snapshot.owner(of: "yard") == nil)
        await #expect(throws: (any Error).self) { _ = try await c.heartbeat(states: .object(JSONObject())) }
        await b.leave()
        await c.leave()
        await storage.close()
    }

    @Test func notificationsReachEveryNode() async throws {
        let storage = try await TestPostgres.storage(try TestPostgres.newDatabase())
        let a = try backend(storage), b = try backend(storage)
        try await a.join(node("a"))
        try await b.join(node("b"))
        try await a.notify(#"{"node":"a","kind":"kick"}"#)
        var received: String?
        for await payload in b.notifications() {
            received = payload
            break
        }
        #expect(received == #"{"node":"a","kind":"kick"}"#)
        await #expect(throws: StorageError.self) { try await a.notify(String(repeating: "x", count: 8000)) }
        await a.leave()
        await b.leave()
        await storage.close()
    }

    @Test func theRankingSpreadsCamerasByWeightAndMovesOnlyALeavingNodesCameras() {
        let cameras = (0..<3000).map { "cam-\($0)" }
        func owner(_ camera: String, _ nodes: [(String, Int)]) -> String {
            nodes.max { ClusterKeys.score(camera: camera, node: $0.0, weight: $0.1) < ClusterKeys.score(camera: camera, node: $1.0, weight: $1.1) }!.0
        }
        let three = [("n1", 1), ("n2", 1), ("n3", 2)]
        let before = Dictionary(uniqueKeysWithValues: cameras.map { ($0, owner($0, three)) })
        let counts = Dictionary(grouping: before.values, by: { $0 }).mapValues(\.count)
        #expect((600...900).contains(counts["n1"] ?? 0) && (600...900).contains(counts["n2"] ?? 0))
        #expect((1350...1650).contains(counts["n3"] ?? 0))
        let after = Dictionary(uniqueKeysWithValues: cameras.map { ($0, owner($0, [("n1", 1), ("n3", 2)])) })
        #expect(cameras.allSatisfy { before[$0] == "n2" || before[$0] == after[$0] })
    }

    @Test func callsBetweenNodesAreSignedForTheirRequestAndTime() {
        let signature = ClusterSignature(secret: "secret-0123456789abcdef0123456789")
        let body = Array(#"{"op":"clip"}"#.utf8)
        let header = signature.sign(method: "POST", path: "/internal/cluster/call", body: body, node: "n1", time: 1_000_000)
        #expect(signature.verify(header, method: "POST", path: "/internal/cluster/call", body: body, now: 1_000_010) == "n1")
        // Each signature is good once: a captured call cannot be replayed.
        #expect(signature.verify(header, method: "POST", path: "/internal/cluster/call", body: body, now: 1_000_011) == nil)
        #expect(signature.verify(header, method: "POST", path: "/internal/cluster/call", body: body, now: 1_000_031) == nil)
        #expect(signature.verify(header, method: "POST", path: "/internal/cluster/call", body: body + [32], now: 1_000_000) == nil)
        #expect(signature.verify(header, method: "GET", path: "/internal/cluster/call", body: body, now: 1_000_000) == nil)
        #expect(signature.verify(header.replacingOccurrences(of: "node=n1", with: "node=n2"), method: "POST",
                                 path: "/internal/cluster/call", body: body, now: 1_000_000) == nil)
        let other = ClusterSignature(secret: "another-secret-0123456789abcdef01")
        #expect(other.verify(header, method: "POST", path: "/internal/cluster/call", body: body, now: 1_000_000) == nil)
        for junk in ["", "node=n1", "node=n1;t=x;sig=00", String(repeating: "a", count: 400), "node=n1;t=1000000;sig=" + String(repeating: "zz", count: 32),
                     "node=n1;t=1000000;sig=" + String(repeating: "a", count: 62) + "é", "node=n1;t=99999999999999999999;sig=00"] {
            #expect(signature.verify(junk, method: "POST", path: "/internal/cluster/call", body: body, now: 1_000_000) == nil)
        }
        #expect(signature.verify(nil, method: "POST", path: "/", body: [], now: 0) == nil)
    }

    @Test func relayFramesSurviveAnySplitAndRefuseOversizedLengths() throws {
        let segment = MP4InitSegment(bytes: Array(repeating: 7, count: 300), codecs: "avc1.64001f", generation: 3)
        var fragment = MP4Fragment(bytes: Array(repeating: 9, count: 5000), startTime: 1.5, duration: 0.2, isIndependent: true, sequence: 42)
        fragment.endsBeforeKeyframe = true
        var stream = ClusterLiveFrames.encode(.initSegment(segment))!
        var second = ClusterLiveFrames.encode(.fragment(fragment))!
        stream.writeBuffer(&second)
        let bytes = Array(stream.readableBytesView)
        for step in [1, 7, 300, bytes.count] {
            var decoder = ClusterLiveFrames.Decoder()
            var events: [FragmentEvent] = []
            var index = 0
            while index < bytes.count {
                decoder.append(ByteBuffer(bytes: bytes[index..<min(index + step, bytes.count)]))
                index += step
                while let event = try decoder.next() { events.append(event) }
            }
            #expect(events.count == 2)
            guard case .initSegment(let decodedInit) = events[0], case .fragment(let decodedFragment) = events[1] else {
                Issue.record("wrong kinds")
                continue
            }
            #expect(decodedInit.bytes == segment.bytes && decodedInit.codecs == "avc1.64001f" && decodedInit.generation == 3)
            #expect(decodedFragment.bytes == fragment.bytes && decodedFragment.sequence == 42 && decodedFragment.isIndependent)
            #expect(decodedFragment.startTime == 1.5 && decodedFragment.duration == 0.2 && decodedFragment.endsBeforeKeyframe)
        }
        var hostile = ClusterLiveFrames.Decoder()
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "F"))
        buffer.writeInteger(UInt32.max)
        hostile.append(buffer)
        #expect(throws: GatewayError.self) { _ = try hostile.next() }
    }
}
