import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Logging
import Sinks
import Testing

/// An `hls` sink with these options on a new hub, its muxer and the camera's fragmenter running
/// and one player watching; `body` runs, then both stop.
func withHLSSink(_ camera: String, _ options: [(key: String, value: JSONValue)],
                 _ body: (HLSSink, StreamHub) async throws -> Void) async throws {
    let hub = StreamHub(cameraID: camera)
    let configuration = try #require(ConfigDecoder.decode(HLSSinkConfiguration.self, from: .object(JSONObject(options))).value)
    let sink = try HLSSink(configuration: configuration, context: testContext(camera), hub: hub)
    let running = Task { try await sink.run() }
    let fragmenting = Task { await hub.fragmenter.run(logger: Logger(label: "test")) }
    defer { running.cancel(); fragmenting.cancel() }
    await sink.touch(player: "test")
    #expect(try await eventually { hub.fragmenter.fragments.viewerCount == 1 && hub.tapNames.contains("fragmenter") })
    try await body(sink, hub)
}

/// The `hls` sink against a hub: sessions become discontinuities, and directory storage.
@Suite struct HLSSinkTests {
    @Test func aRestartedSourceBecomesAnEXTXDiscontinuityInTheSinksPlaylist() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        try await withHLSSink("restart", [("segment_duration", .double(1)), ("part_duration", .int(0)), ("idle_timeout", .int(30))]) { sink, hub in
            for _ in 0..<2 {
                hub.begin(streams)
                for packet in packets { hub.publish(packet) }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await eventually {
                (try? await sink.mediaPlaylist(query: "", blockUntil: nil))?.contains("#EXT-X-DISCONTINUITY") == true
            })
            let text = try await sink.mediaPlaylist(query: "", blockUntil: nil)
            #expect(text.contains("init-1.mp4") && text.contains("init-2.mp4"))
        }
    }

    /// With LL-HLS a segment is its parts' bytes, the part that ended it included (a segment
    /// ends with the part cut before a keyframe, in the same change that adds that part).
    @Test func aSegmentsBytesAreAllItsPartsBytes() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        try await withHLSSink("parts", [("segment_duration", .double(1)), ("part_duration", .double(0.2)), ("idle_timeout", .int(30))]) { sink, hub in
            // Two sessions of the 2 s clip (1 s GOPs): the first session's second segment ends when
            // the second begins; the second session's first segment ends with its part before a keyframe.
            for _ in 0..<2 {
                hub.begin(streams)
                for packet in packets { hub.publish(packet) }
            }
            // The segments whose parts are still listed, each with its parts in order.
            var segments: [(name: String, parts: [String])] = []
            var text = ""
            #expect(try await eventually {
                text = try await sink.mediaPlaylist(query: "", blockUntil: nil)
                segments = []
                var parts: [String] = []
                for line in text.split(separator: "\n") {
                    if line.hasPrefix("#EXT-X-PART:"), let uri = line.split(separator: "\"").dropFirst().first {
                        parts.append(String(uri))
                    } else if line.hasPrefix("seg-") {
                        if !parts.isEmpty { segments.append((String(line), parts)) }
                        parts = []
                    }
                }
                return segments.count >= 2
            }, "\(text)")
            for segment in segments {
                let whole = try #require(await sink.resource(named: segment.name)).joinedBytes()
                var joined: [UInt8] = []
                for part in segment.parts { joined += try #require(await sink.resource(named: part)).joinedBytes() }
                #expect(!whole.isEmpty && whole == joined, "\(segment.name): \(segment.parts)")
            }
        }
    }
}

@Suite struct HLSDirectoryStorageTests {
    @Test func segmentsLiveInTheDirectoryAndLeaveWithTheWindow() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let directory = TestMedia.temporaryPath("hls-dir")
        try await withHLSSink("disk", [("segment_duration", .double(1)), ("part_duration", .int(0)), ("window", .int(3)),
                                       ("storage", .string("directory")), ("directory", .string(directory))]) { sink, hub in
            hub.begin(streams)
            for _ in 0..<3 { for packet in packets { hub.publish(packet) } }
            #expect(try await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/disk")) ?? []).contains("init-1.mp4") })
            // What the playlist lists is on disk, and nothing else (files are written on the sink's
            // I/O thread, so the two agree once the queued writes are done).
            var listed: [String] = []
            #expect(try await eventually {
                let text = try await sink.mediaPlaylist(query: "", blockUntil: nil)
                listed = text.split(separator: "\n").filter { $0.hasPrefix("seg-") }.map(String.init)
                let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/disk")
                return !listed.isEmpty && Set(files) == Set(listed + ["init-1.mp4"])
            })
            let last = try #require(listed.last)
            let served = try #require(await sink.resource(named: last))
            #expect(served.joinedBytes() == (try FileIO.read(directory + "/disk/" + last)))
            await sink.stop()
            #expect(try await eventually { (try? FileManager.default.contentsOfDirectory(atPath: directory + "/disk"))?.isEmpty == true })
        }
    }
}
