import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
        #expect(result.error.contains("cameras[0].source.type: unknown source type 'nope'; known types: file, http, rtsp, usb"))
        #expect(result.error.contains("cameras[1].id: duplicate camera id 'x'"))
        #expect(result.error.contains("cameras[1].source.path: missing required option 'path'"))
    }

    @Test func checkConfigAcceptsAValidFile() async throws {
        let file = TestMedia.temporaryPath("good.json")
        try "{\"server\": {\"data_dir\": \"\(TestMedia.directory)/cli-data\"}, \"cameras\": [{\"id\": \"a\", \"source\": {\"type\": \"file\", \"path\": \"\(try await TestMedia.clip())\"}}]}"
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

    @Test func probePrintsTheStreams() async throws {
        let result = try runProgram(try gatewayBinary(), ["probe", try await TestMedia.clip()])
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

    @Test func serveRunsTheConfigAndStopsGracefullyOnSIGTERM() async throws {
        let directory = TestMedia.temporaryPath("serve")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/plugins.json"
        try """
        {"server": {"port": 0, "data_dir": "state"}, "auth": {"bcrypt_cost": 4},
         "users": [{"username": "admin", "password": "serve-test-password", "role": "admin"}],
         "cameras": [{"id": "lobby", "source": {"type": "file", "path": "\(try await TestMedia.clip())", "loop": true}}]}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try gatewayBinary())
        process.arguments = ["serve", "--config", config]
        let log = Pipe()
        process.standardError = log
        process.standardOutput = FileHandle.nullDevice
        let collected = LogCollector(log.fileHandleForReading)
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        #expect(try await eventually { collected.text.contains("listening on http://") })
        let text = collected.text
        let port = try #require(text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            .flatMap { Int(text[$0].split(separator: ":").last!) })
        var login = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/auth/login")!)
        login.httpMethod = "POST"
        login.httpBody = Data(#"{"username": "admin", "password": "serve-test-password"}"#.utf8)
        let (loginData, _) = try await URLSession.shared.data(for: login)
        let token = try #require((try JSONSerialization.jsonObject(with: loginData) as? [String: Any])?["token"] as? String)
        var health = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/health")!)
        health.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        #expect(try await eventually {
            guard let (data, _) = try? await URLSession.shared.data(for: health) else { return false }
            return String(decoding: data, as: UTF8.self).contains(#""state":"online""#)
        })
        #expect(FileManager.default.fileExists(atPath: directory + "/state"))

        process.terminate()  // SIGTERM
        #expect(try await eventually(timeout: .seconds(5)) { !process.isRunning })
        #expect(process.terminationStatus == 0)
        #expect(collected.text.contains("camera offline"))
    }
}

/// Gathers a child's output as it arrives.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.withLock { self.data.append(chunk) }
        }
    }

    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
