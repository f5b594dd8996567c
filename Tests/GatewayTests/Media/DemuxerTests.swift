import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct DemuxerTests {
    @Test func readsStreamsAndPacketsOfAGeneratedFile() async throws {
        let (streams, packets) = try readAllPackets(try await TestMedia.clip())
        let video = try #require(streams.video)
        let audio = try #require(streams.audio)
        #expect(video.codecName == "h264")
        #expect(video.parameters.width == 320 && video.parameters.height == 240)
        #expect(video.frameRate == 25)
        #expect(audio.codecName == "aac")
        #expect(audio.parameters.sampleRate == 48000)
        let videoPackets = packets.filter { $0.kind == .video }
        #expect(videoPackets.count == 50)
        #expect(videoPackets.filter(\.isKeyframe).count == 2)
        #expect(videoPackets.first?.isKeyframe == true)
        // B-frames: decode order differs from presentation order, but every pts is a frame slot.
        let presentation = videoPackets.compactMap(\.pts).map { video.timeBase.seconds($0) }.sorted()
        let first = try #require(presentation.first)
        for (index, seconds) in presentation.enumerated() {
            #expect(abs(seconds - first - Double(index) * 0.04) < 0.001)
        }
        #expect(packets.filter { $0.kind == .audio }.count >= 93)
    }

    @Test func openingAMissingFileIsAClearError() {
        do {
            _ = try Demuxer(url: "/nonexistent/camera.mp4")
            Issue.record("opened a missing file")
        } catch let error as MediaError {
            #expect(error.description.contains("/nonexistent/camera.mp4"))
            #expect(error.description.contains("No such file"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func errorsNeverShowCredentials() {
        do {
            _ = try Demuxer(url: "rtsp://admin:hunter2@127.0.0.1:1/stream", options: .init(timeout: .seconds(2)))
            Issue.record("connected to a closed port")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
            #expect("\(error)".contains("rtsp://***@127.0.0.1:1/stream"))
        }
    }

    @Test func aStuckConnectionIsInterruptedByCancellation() async throws {
        let server = try SilentTCPServer()
        defer { server.close() }
        let interruption = Interruption()
        let started = ContinuousClock.now
        let task = Task {
            try await BlockingThread.run(name: "stuck", onCancel: interruption.cancel) {
                _ = try Demuxer(url: "http://127.0.0.1:\(server.port)/stream", interruption: interruption)
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        #expect(throws: MediaError.self) { try result.get() }
        if case .failure(let error as MediaError) = result { #expect(error.code == .cancelled) }
        #expect(ContinuousClock.now - started < .seconds(10))  // a hang guard: the stuck server never answers
    }

    @Test func aSilentInputTimesOut() async throws {
        let server = try SilentTCPServer()
        defer { server.close() }
        let started = ContinuousClock.now
        do {
            _ = try await BlockingThread.run(name: "silent", onCancel: {}) {
                try Demuxer(url: "http://127.0.0.1:\(server.port)/stream", options: .init(timeout: .milliseconds(500)))
            }
            Issue.record("opened a silent input")
        } catch let error as MediaError {
            #expect(error.code == .timeout)
        }
        let elapsed = ContinuousClock.now - started
        // At least the timeout; the upper bound only tells a timeout from a hang (the whole suite
        // runs in parallel on 2 cores, so it is generous).
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(10))
    }
}

/// A TCP port that accepts connections (the kernel completes the handshake) and never answers.
final class SilentTCPServer: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound, listen(descriptor, 16) == 0 else {
            _ = Glibc.close(descriptor)
            throw TestFailure("cannot listen on loopback")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}
