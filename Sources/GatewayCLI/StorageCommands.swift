import ArgumentParser
import Foundation
import GatewayCore
import Logging
import StandardPlugins

/// `gateway storage migrate|check`: the storage backends of plugins.json files, outside a
/// running gateway.
struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Check a storage backend, or copy everything from one backend to another.",
        subcommands: [StorageMigrate.self, StorageCheck.self])
}

struct StorageMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy users (hashes as they are), cameras, grants and video records from one plugins.json's storage to another's.",
        discussion: "Idempotent: run it again and what is already there is left. Video files are not moved, only their records.")

    @Option(help: "The plugins.json whose storage is read.")
    var from: String

    @Option(help: "The plugins.json whose storage is written.")
    var to: String

    func run() async throws {
        let logger = StorageCLI.logger()
        let source = try await StorageCLI.open(from, logger: logger)
        let target: any StorageBackend
        do {
            target = try await StorageCLI.open(to, logger: logger)
        } catch {
            await source.close()
            throw error
        }
        // A bar redrawn in place on a terminal; one line per kind of record otherwise.
        let interactive = isatty(STDERR_FILENO) != 0
        do {
            let report = try await StorageTransfer.copy(from: source, to: target) { what, done, total in
                let line = "\(what): \(StorageCLI.bar(done, total)) \(done)/\(total)"
                if interactive {
                    printError("\r\(line)", terminator: done == total ? "\n" : "")
                } else if done == total {
                    printError(line)
                }
            }
            print("users: \(report.users)")
            print("cameras: \(report.cameras)")
            print("grants: \(report.grants)")
            print("videos: \(report.videos)")
        } catch {
            await source.close()
            await target.close()
            printError("gateway storage migrate: \(error)")
            throw ExitCode(1)
        }
        await source.close()
        await target.close()
    }
}

struct StorageCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Connect to a plugins.json's storage, bring its schema and indexes up to date, and count what it holds.")

    @Argument(help: "The plugins.json whose storage is checked.")
    var file = "plugins.json"

    func run() async throws {
        let storage = try await StorageCLI.open(file, logger: StorageCLI.logger())
        do {
            let users = try await storage.users().count
            let cameras = try await storage.cameras().count
            let videos = try await storage.videos(VideoQuery(limit: 1)).total
            print("\(file): storage OK (schema and indexes current; \(users) users, \(cameras) cameras, \(videos) videos)")
        } catch {
            await storage.close()
            printError("\(file): storage: \(error)")
            throw ExitCode(1)
        }
        await storage.close()
    }
}

enum StorageCLI {
    static func logger() -> Logger {
        var logger = Logger(label: "gateway")
        logger.logLevel = .warning
        return logger
    }

    /// The migrated storage of the plugins.json at `file`; exits 2 on a config problem and 1 on a
    /// backend that cannot be opened, with one line that names it.
    static func open(_ file: String, logger: Logger) async throws -> any StorageBackend {
        let registry = StandardPlugins.registry
        let config: GatewayConfig
        switch ConfigLoader(registry: registry).load(file: file) {
        case .success(let loaded): config = loaded
        case .failure(let errors):
            printError("\(file): \(errors)")
            throw ExitCode(2)
        }
        let spec = config.storage?.spec ?? StorageOpening.defaultSpec
        let dataDirectory = FileIO.absolute(config.server.dataDirectory)
        try FileIO.makeDirectory(dataDirectory)
        let context = PluginContext(id: "storage", logger: logger, dataDirectory: dataDirectory, events: EventBus(logger: logger))
        do {
            return try await StorageOpening.open(spec, registry: registry, context: context)
        } catch {
            printError("\(file): cannot open the \(spec.type) storage: \(error)")
            throw ExitCode(1)
        }
    }

    static func bar(_ done: Int, _ total: Int, width: Int = 30) -> String {
        let filled = total > 0 ? min(width, done * width / total) : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }
}
