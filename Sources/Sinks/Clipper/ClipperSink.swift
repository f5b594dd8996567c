import Gateway
import Logging

/// The ring-buffer clipper (`type: "clipper"`): keeps the last `pre_seconds` of the camera in
/// memory and, on a trigger, writes a progressive MP4 from the keyframe at or before
/// (trigger − pre) to (trigger + post) while the post-roll arrives, without re-encoding.
public final class ClipperSink: SinkAdapter, ClipTrigger {
    public static let type = "clipper"
    public typealias Configuration = ClipperSinkConfiguration

    let cameraID: String
    private let hub: StreamHub
    private let configuration: Configuration
    private let logger: Logger
    let state: ClipperState

    public init(configuration: Configuration, context: PluginContext, hub: StreamHub) throws {
        cameraID = context.id
        self.hub = hub
        self.configuration = configuration
        logger = context.logger
        guard let storage = context.storage else { throw MediaError(.unsupported, component: context.id, "the clipper needs a storage backend") }
        let directory = context.dataDirectory + "/clips/" + context.id
        try FileIO.makeDirectory(directory)
        state = ClipperState(cameraID: context.id, configuration: configuration, directory: directory, storage: storage,
                             events: context.events, logger: context.logger)
    }

    public func trigger(pre: Double?, post: Double?, label: String?, actor: String?) async throws -> VideoRecord {
        try await state.trigger(pre: pre ?? configuration.preSeconds, post: post ?? configuration.postSeconds, label: label, actor: actor)
    }

    public func run() async throws {
        try await hub.withReader(name: "clipper", capacity: 4096) { reader in
            for await event in reader {
                switch event {
                case .streams(let streams): await state.begin(streams)
                case .packet(let packet): await state.append(packet)
                case .skipped: await state.lost()
                }
            }
        }
    }
}
