import Logging

/// The default event backend (`type: "log"`): one log line per event.
public struct LogEventBackend: EventBackendAdapter {
    public static let type = "log"

    public struct Configuration: Decodable, Sendable {
        /// Log level of event lines: trace, debug, info, notice, warning. Default `info`.
        public var level: Level = .info

        public enum Level: String, ConfigEnum, Sendable { case info, trace, debug, notice, warning }

        enum CodingKeys: String, CodingKey { case level }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            level = try container.decodeIfPresent(Level.self, forKey: .level) ?? .info
        }
    }

    private let level: Logger.Level
    private let logger: Logger

    public init(configuration: Configuration, context: PluginContext) throws {
        level = Logger.Level(rawValue: configuration.level.rawValue) ?? .info
        var logger = context.logger
        logger[metadataKey: "component"] = "events.log"
        self.logger = logger
    }

    public func publish(_ event: GatewayEvent) async throws {
        var metadata: Logger.Metadata = [:]
        if let camera = event.camera { metadata["camera"] = "\(camera)" }
        for (key, value) in event.attributes.entries { metadata[key] = "\(JSONWriter.string(value))" }
        logger.log(level: level, "\(event.name)", metadata: metadata)
    }
}
