import ArgumentParser
import Foundation
import Gateway
import GatewayCore
import Logging
import StandardPlugins
import Synchronization

/// `gateway import FILE… --owner USER [--camera ID]`: the upload pipeline from the terminal —
/// the same probe, quota, processing and storage as `POST /api/videos/upload`, with a progress
/// bar. The files are copied; the originals stay where they are.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Upload video files as USER: probe, package (MP4, HLS, thumbnail) and store them, with progress.")

    @Argument(help: "The video files.")
    var files: [String]

    @Option(help: "The user the videos belong to.")
    var owner: String

    @Option(help: "A camera the owner may operate, to attach the videos to.")
    var camera: String?

    @Option(help: "The plugins.json whose storage and uploads settings are used.")
    var config = "plugins.json"

    @Option(help: "A title for the videos (default: each file's name).")
    var title: String?

    func run() async throws {
        let logger = StorageCLI.logger()
        let loaded: GatewayConfig
        switch ConfigLoader(registry: StandardPlugins.registry).load(file: config) {
        case .success(let value): loaded = value
        case .failure(let errors):
            printError("\(config): \(errors)")
            throw ExitCode(2)
        }
        let storage = try await StorageCLI.open(config, logger: logger)
        defer { Task { await storage.close() } }
        guard let user = try await storage.user(named: owner) else {
            printError("no user '\(owner)' in \(config)'s storage")
            throw ExitCode(1)
        }
        let principal = Principal(userID: user.id, username: user.username, role: user.role)
        let dataDirectory = FileIO.absolute(loaded.server.dataDirectory)
        let events = EventBus(logger: logger)
        if loaded.events.isEmpty || loaded.events.contains(where: { $0.spec.type == LogEventBackend.type }) {
            events.attach(try LogEventBackend(configuration: .init(), context: PluginContext(id: "events", logger: logger,
                                                                                             dataDirectory: dataDirectory, events: events)), name: "log")
        }
        let bus = Task { try await events.run() }
        defer { bus.cancel() }
        let uploads = Uploads(storage: storage, events: events, access: AccessControl(storage: storage), configuration: loaded.uploads,
                              dataDirectory: dataDirectory, logger: logger)
        var failures = 0
        for file in files {
            let name = (file as NSString).lastPathComponent
            do {
                guard FileManager.default.isReadableFile(atPath: file) else { throw GatewayError.notFound("cannot read \(file)") }
                let size = FileIO.size(file) ?? 0
                guard size <= loaded.uploads.maxBytes else { throw GatewayError(.quotaExceeded, "larger than uploads.max_bytes") }
                let copy = try uploads.temporaryPath()
                try FileManager.default.copyItem(atPath: file, toPath: copy)
                let video = try await uploads.accept(file: copy, owner: principal, cameraID: camera, title: title ?? name, originalName: name)
                let shown = Shown()
                await uploads.process(video.id) { fraction in
                    let percent = Int(fraction * 100)
                    guard shown.changed(to: percent) else { return }
                    Console.write("\r\(name) \(StorageCLI.bar(percent, 100)) \(percent) %", newline: false)
                }
                guard let done = try await storage.video(id: video.id) else { throw GatewayError.notFound("the video vanished") }
                if done.status == .ready {
                    let duration = done.details["duration"]?.doubleValue ?? 0
                    Console.write("\r\(name) → \(done.id) ready: \(String(format: "%.1f", duration)) s, "
                                  + "\({ if case .string(let codec)? = done.details["video_codec"] { codec } else { "?" } }())\(done.details["transcoded_from"] != nil ? " (transcoded)" : "")"
                                  + String(repeating: " ", count: 20))
                } else {
                    failures += 1
                    Console.write("\r\(name) → \(done.id) failed: \({ if case .string(let reason)? = done.details["error"] { reason } else { "unknown" } }())" + String(repeating: " ", count: 20))
                }
            } catch {
                failures += 1
                let reason = (error as? GatewayError)?.message ?? "\(error)"
                Console.write("\(name): not imported: \(reason)")
            }
        }
        try? await Task.sleep(for: .milliseconds(200))  // the log backend writes the last events
        if failures > 0 { throw ExitCode(1) }
    }
}

/// The percentage the bar shows, so it is redrawn only when it changes.
private final class Shown: Sendable {
    private let percent = Mutex(-1)
    func changed(to value: Int) -> Bool {
        percent.withLock { current in
            defer { current = value }
            return current != value
        }
    }
}
