import Foundation
import Testing

/// The `gateway` binary as a user runs it (built next to the test bundle).
@Suite struct CLITests {
    func gatewayBinary() throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("gateway").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestFailure("the gateway binary was not built next to the tests (\(directory.path)); run `swift build` first")
    }

    @Test func checkConfigListsEveryProblemAndFails() throws {
        let file = TestMedia.temporaryPath("bad.json")
        try #"{"server": {"port": -1}, "cameras": [{"id": "x", "source": {"type": "nope"}}, {"id": "x", "source": {"type": "file"}}]}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runProgram(try gatewayBinary(), ["check-config", file])
        #expect(result.status == 2)
        #expect(result.error.contains("4 problems"))
        #expect(result.error.contains("server.port: -1 is not a TCP port"))
        #expect(result.error.contains("cameras[0].source.type: unknown source type 'nope'; known types: file"))
        #expect(result.error.contains("cameras[1].id: duplicate camera id 'x'"))
        #expect(result.error.contains("cameras[1].source.path: missing required option 'path'"))
    }

    @Test func checkConfigAcceptsAValidFile() throws {
        let file = TestMedia.temporaryPath("good.json")
        try "{\"cameras\": [{\"id\": \"a\", \"source\": {\"type\": \"file\", \"path\": \"\(try TestMedia.clip())\"}}]}"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runProgram(try gatewayBinary(), ["check-config", file])
        #expect(result.status == 0)
        #expect(result.output.contains("OK (1 camera, 0 users)"))
    }

    @Test func serveRefusesAnInvalidConfiguration() throws {
        let file = TestMedia.temporaryPath("bad-serve.json")
        try #"{"cameras": [{"id": "a", "owner": "ghost", "source": {"type": "file", "path": "/nope.mp4"}}]}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runProgram(try gatewayBinary(), ["serve", "--config", file])
        #expect(result.status == 2)
        #expect(result.error.contains("cameras[0].owner: unknown owner 'ghost'"))
        #expect(result.error.contains("cameras[0].source.path: cannot read /nope.mp4"))
    }

    @Test func probePrintsTheStreams() throws {
        let result = try runProgram(try gatewayBinary(), ["probe", try TestMedia.clip()])
        #expect(result.status == 0)
        #expect(result.output.contains("video  codec=h264  profile=Main"))
        #expect(result.output.contains("resolution=320x240  fps=25.0"))
        #expect(result.output.contains("audio  codec=aac"))
        #expect(result.output.contains("sample_rate=48000"))
        #expect(result.output.contains("time_base=1/12800"))
    }

    @Test func probeOfAnUnreachableCameraFailsClearly() throws {
        let result = try runProgram(try gatewayBinary(), ["probe", "rtsp://user:pw@127.0.0.1:1/live", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.error.contains("rtsp://***@127.0.0.1:1/live"))
        #expect(!result.error.contains("pw@"))
    }
}
