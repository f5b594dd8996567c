import ArgumentParser
import Gateway
import SourcesUSB
import Logging
import ServiceLifecycle
import StandardPlugins
import GatewayCore
import JSON
import SocketIO

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Camera Gateway: cameras in, browsers, HLS players, recordings and clips out.",
        version: GatewayRuntime.version,
        subcommands: [Serve.self, CheckConfig.self, StorageCommand.self, ClusterCommand.self, ImportCommand.self, Probe.self, Devices.self],
        defaultSubcommand: Serve.self)

    static func main() async {
        // Before the first task: tasks run on NIO's event loops (docs/architecture.md, "Threads").
        SwiftConcurrencyOnEventLoops.install()
        await main(nil)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(name: .shortAndLong, help: "The plugins.json to run.")
    var config = "plugins.json"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        // Freed heap pages go back to the system (Sources/GatewayCore/Support/MemoryTrimmer.swift).
        MemoryTrimmer.start()
        var logger = Logger(label: "gateway")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let loaded = ConfigLoader(registry: StandardPlugins.registry).load(file: config)
        guard case .success(let gatewayConfig) = loaded else {
            if case .failure(let errors) = loaded { printError("\(config): \(errors)") }
            throw ExitCode(2)
        }
        let runtime: GatewayRuntime
        do {
            runtime = try await GatewayRuntime.start(config: gatewayConfig, registry: StandardPlugins.registry, logger: logger)
        } catch let errors as ConfigErrors {
            printError("\(config): \(errors)")
            throw ExitCode(2)
        } catch let error as StorageError {
            // One line that names the backend and its address (never a password), no trace.
            printError("\(config): cannot open the storage: \(error)")
            throw ExitCode(1)
        }
        let host = gatewayConfig.server.host
        let announcer = logger
        // plugins.json is applied again on SIGHUP and when it changes (docs/config.md).
        let reloader = ConfigReloader(path: config, loader: ConfigLoader(registry: StandardPlugins.registry), runtime: runtime, logger: logger)
        let app = runtime.makeApplication(additionalServices: [reloader]) { port in
            announcer.notice("camera gateway \(GatewayRuntime.version) listening on http://\(host):\(port)")
        }
        try await app.runService()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate a plugins.json and list every problem in it.")

    @Argument(help: "The file to check.")
    var file = "plugins.json"

    func run() throws {
        switch ConfigLoader(registry: StandardPlugins.registry).load(file: file) {
        case .success(let config):
            print("\(file): OK (\(config.cameras.count) camera\(config.cameras.count == 1 ? "" : "s"), \(config.users.count) user\(config.users.count == 1 ? "" : "s"))")
        case .failure(let errors):
            printError("\(file): \(errors)")
            throw ExitCode(2)
        }
    }
}

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a camera URL, device or file and print its streams.")

    @Argument(help: "rtsp://…, http://…, /dev/video0, a file path …")
    var input: String

    @Option(help: "Input format (v4l2, lavfi, mjpeg, …); probed when omitted.")
    var format: String?

    @Option(help: "Seconds to wait for the input.")
    var timeout: Double = 10

    func run() throws {
        let demuxer: Demuxer
        do {
            demuxer = try Demuxer(url: input, options: .init(format: format, timeout: .milliseconds(Int64(timeout * 1000))))
        } catch {
            printError("probe: \(error)")
            throw ExitCode(1)
        }
        print(ProbeReport(demuxer: demuxer).text)
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the capture devices (USB cameras) with their formats and sizes.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let devices = CaptureDevices.list()
        if json {
            let list = devices.map { device in
                JSONValue.object(JSONObject([
                    ("device", .string(device.path)), ("name", .string(device.name)), ("driver", .string(device.driver)),
                    ("formats", .array(device.formats.map { format in
                        .object(JSONObject([("input_format", .string(format.name)), ("description", .string(format.description)),
                                            ("sizes", .array(format.sizes.map { .string($0) }))]))
                    })),
                ]))
            }
            print(JSONWriter.string(.array(list)))
            return
        }
        if devices.isEmpty {
            print("no capture devices found (looked for /dev/video* with V4L2 video capture)")
            return
        }
        for device in devices {
            print("\(device.path): \(device.name) (\(device.driver))")
            for format in device.formats {
                print("  input_format \(format.name): \(format.description)")
                for size in format.sizes { print("    \(size)") }
            }
        }
    }
}

func printError(_ text: String, terminator: String = "\n") {
    var standardError = StandardErrorStream()
    print(text, terminator: terminator, to: &standardError)
}
