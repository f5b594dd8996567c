import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Synchronization
import Testing

/// Runs a program and captures what it prints. Tests use the ffmpeg CLI to make media and as a
/// reference player; the product itself never spawns it.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Test media made by ffmpeg once per test run, in a temporary directory.
enum TestMedia {
    private static let makers = Mutex<[String: Task<String, any Error>]>([:])

    static let directory: String = {
        let path = NSTemporaryDirectory() + "gateway-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    static func temporaryPath(_ name: String) -> String { directory + "/\(UUID().uuidString)-\(name)" }

    static func ffmpegPath() throws -> String {
        for candidate in ["/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestFailure("ffmpeg is not installed: run scripts/install-deps.sh (make test does)")
    }

    static func ffprobePath() throws -> String {
        let ffmpeg = try ffmpegPath()
        return String(ffmpeg.dropLast("ffmpeg".count)) + "ffprobe"
    }

    /// Makes (once) a file with ffmpeg's `arguments` placed between the inputs and the output.
    /// ffmpeg runs on a thread of its own and the caller waits without holding a thread of the
    /// cooperative pool (two tests waiting for media used to stall every other test for as long
    /// as ffmpeg ran, and timing tests then failed).
    static func file(_ name: String, _ arguments: [String]) async throws -> String {
        let making = makers.withLock { makers -> Task<String, any Error> in
            if let task = makers[name] { return task }
            let task = Task<String, any Error> {
                let path = directory + "/" + name
                let result = try await BlockingThread.run(name: "test-media", onCancel: {}) {
                    try runProgram(try ffmpegPath(), ["-hide_banner", "-loglevel", "error", "-y"] + arguments + [path])
                }
                guard result.status == 0 else { throw TestFailure("ffmpeg could not make \(name): \(result.error)") }
                return path
            }
            makers[name] = task
            return task
        }
        return try await making.value
    }

    /// 2 s of 320x240 H.264 at 25 fps with a keyframe every second (B-frames on), and AAC audio.
    static func clip() async throws -> String {
        try await file("clip-h264-aac.mp4", [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
        ])
    }

    /// 1 s of video only, a keyframe every 5 frames.
    static func shortVideo() async throws -> String {
        try await file("short-h264.mp4", shortVideoArguments)
    }

    /// The same, for a synchronous caller (a suite's `init`): made on the caller's thread, in a
    /// file of its own, so that it never waits for a task (that could need the very thread it holds).
    static func shortVideoNow() throws -> String {
        try shortVideoNowPath.get()
    }

    private static let shortVideoArguments = [
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
        "-g", "5", "-keyint_min", "5", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    ]

    private static let shortVideoNowPath: Result<String, any Error> = Result {
        let path = directory + "/short-h264-now.mp4"
        let result = try runProgram(try ffmpegPath(), ["-hide_banner", "-loglevel", "error", "-y"] + shortVideoArguments + [path])
        guard result.status == 0 else { throw TestFailure("ffmpeg could not make short-h264-now.mp4: \(result.error)") }
        return path
    }
}

/// Every packet of a file, read as fast as possible.
func readAllPackets(_ path: String) throws -> (streams: StreamSet, packets: [MediaPacket]) {
    let demuxer = try Demuxer(url: path)
    var packets: [MediaPacket] = []
    while let packet = try demuxer.read() { packets.append(packet) }
    return (demuxer.streams, packets)
}

/// A source output that keeps what it gets, with arrival times.
final class RecordingOutput: SourceOutput, @unchecked Sendable {
    private let lock = NSLock()
    private var _sessions: [StreamSet] = []
    private var _packets: [(packet: MediaPacket, arrival: Double)] = []

    func begin(_ streams: StreamSet) { lock.withLock { _sessions.append(streams) } }
    func publish(_ packet: MediaPacket) { lock.withLock { _packets.append((packet, MonotonicTime.seconds())) } }

    var sessions: [StreamSet] { lock.withLock { _sessions } }
    var packets: [(packet: MediaPacket, arrival: Double)] { lock.withLock { _packets } }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
