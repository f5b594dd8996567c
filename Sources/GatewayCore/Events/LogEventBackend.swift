#if canImport(Glibc)
import Glibc
import JSON
#endif

/// The default event backend (`type: "log"`): one JSON line per event, appended to a file
/// under `data_dir` and/or written to standard output.
public struct LogEventBackend: EventBackendAdapter {
    public static let type = "log"

    public struct Configuration: Decodable, Sendable {
        /// File the lines are appended to, relative to `data_dir`; empty for none. Default `events.jsonl`.
        public var file = "events.jsonl"
        /// Also write each line to standard output. Default false.
        public var stdout = false

        enum CodingKeys: String, CodingKey { case file, stdout }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            file = try container.decodeIfPresent(String.self, forKey: .file) ?? file
            stdout = try container.decodeIfPresent(Bool.self, forKey: .stdout) ?? stdout
        }
    }

    private let path: String?
    private let toStandardOutput: Bool
    /// The appends run here, in order, off the cooperative pool.
    private let io = IOQueue(name: "events-log")

    public init(configuration: Configuration, context: PluginContext) throws {
        toStandardOutput = configuration.stdout
        if configuration.file.isEmpty {
            path = nil
        } else {
            path = configuration.file.hasPrefix("/") ? configuration.file : context.dataDirectory + "/" + configuration.file
            try FileIO.makeDirectory(FileIO.directory(of: path!))
        }
    }

    public func publish(_ event: GatewayEvent) async throws {
        let line = Array((JSONWriter.string(event.json) + "\n").utf8)
        let path = path, toStandardOutput = toStandardOutput
        try await io.perform {
            if let path { try FileIO.append(line, to: path) }
            if toStandardOutput { _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) } }
        }
    }
}
