import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import JSON

/// Starts, replaces and stops camera pipelines while the gateway runs (API changes take
/// effect at once); each pipeline runs as a child task of this service.
public final class CameraManager: Service, Sendable {
    private let registry: PluginRegistry
    private let pluginContext: @Sendable (_ id: String, _ type: String?) -> PluginContext
    private let metrics: any MetricsFactory
    private let policy: CameraSupervisor.Policy
    private let logger: Logger
    private let events: EventBus
    private let baseDirectory: String
    private let sourcePolicy: SourcePolicyConfig
    private let sourceEgress: SourceEgress
    private let pipelines = Mutex<[String: CameraPipeline]>([:])
    private let placement = Mutex<Placement?>(nil)
    /// In a cluster: the cameras other nodes run, as they last reported them.
    public let remote = RemoteCameras()
    private let starts: AsyncStream<CameraPipeline>
    private let startContinuation: AsyncStream<CameraPipeline>.Continuation

    package init(registry: PluginRegistry, events: EventBus, logger: Logger, metrics: any MetricsFactory, policy: CameraSupervisor.Policy,
         baseDirectory: String, sourcePolicy: SourcePolicyConfig, sourceEgress: SourceEgress,
         pluginContext: @escaping @Sendable (String, String?) -> PluginContext) {
        self.registry = registry
        self.sourcePolicy = sourcePolicy
        self.sourceEgress = sourceEgress
        self.baseDirectory = baseDirectory
        self.events = events
        self.logger = logger
        self.metrics = metrics
        self.policy = policy
        self.pluginContext = pluginContext
        (starts, startContinuation) = AsyncStream.makeStream(of: CameraPipeline.self)
    }

    /// A path from a camera definition, as the file source resolves it.
    public func resolvePath(_ path: String) -> String {
        path.hasPrefix("/") ? path : (baseDirectory.hasSuffix("/") ? baseDirectory : baseDirectory + "/") + path
    }

    /// Decodes a stored camera definition with the same rules as plugins.json.
    public func validate(_ record: CameraRecord) -> Result<CameraConfig, ConfigErrors> {
        let (config, problems) = ConfigDecoder.decode(CameraConfig.self, from: record.definition, userInfo: [.pluginRegistry: registry, .configBaseDirectory: baseDirectory])
        guard problems.isEmpty, let config else { return .failure(ConfigErrors(problems)) }
        return .success(config)
    }

    /// Which cameras run on this node, in a cluster (docs/scale-out.md).
    public struct Placement: Sendable {
        /// Whether this node holds the camera's lock.
        public var owns: @Sendable (String) -> Bool
        /// A camera this node does not own was changed or removed here: its owner must look.
        public var changed: @Sendable (String) -> Void

        public init(owns: @escaping @Sendable (String) -> Bool, changed: @escaping @Sendable (String) -> Void) {
            self.owns = owns
            self.changed = changed
        }
    }

    /// From now on only cameras `placement` says this node owns start here.
    public func place(by placement: Placement) { self.placement.withLock { $0 = placement } }

    /// Whether cameras run here only when this node owns them (a cluster).
    public var isPlaced: Bool { placement.withLock { $0 != nil } }

    /// Starts (or restarts) the camera of `record`; only that camera's pipeline is touched. In a
    /// cluster, a camera another node owns is only validated here; its owner is told.
    public func start(_ record: CameraRecord) throws {
        let config = try validate(record).get()
        if let placement = placement.withLock({ $0 }), !placement.owns(record.id) {
            placement.changed(record.id)
            return
        }
        let pipeline = try build(record, config)
        // Ownership is checked again under the same lock as the insert: a release between the
        // check above and here (the cluster giving the camera away) must not leave it running.
        let placement = placement.withLock { $0 }
        let (previous, placed) = pipelines.withLock { pipelines -> (CameraPipeline?, Bool) in
            if let placement, !placement.owns(record.id) { return (nil, false) }
            defer { pipelines[record.id] = pipeline }
            return (pipelines[record.id], true)
        }
        guard placed else {
            pipeline.stop()
            placement?.changed(record.id)
            return
        }
        previous?.stop()
        startContinuation.yield(pipeline)
    }

    /// Stops camera `id`; returns its pipeline (whose `ended(within:)` says when it is done),
    /// nil when it did not run here.
    @discardableResult
    public func stop(id: String) -> CameraPipeline? {
        guard let pipeline = pipelines.withLock({ $0.removeValue(forKey: id) }) else {
            placement.withLock { $0 }?.changed(id)
            return nil
        }
        pipeline.stop()
        return pipeline
    }

    public var knownSourceTypes: Set<String> { Set(registry.knownTypes(.source)) }

    public func pipeline(id: String) -> CameraPipeline? { pipelines.withLock { $0[id] } }

    /// The first sink of camera `id` that offers `capability` (an `HLSProvider`, a `ClipTrigger`, …).
    public func sink<Capability>(of id: String, as capability: Capability.Type) -> Capability? {
        pipeline(id: id)?.sinks.lazy.compactMap { $0 as? Capability }.first
    }

    public var all: [CameraPipeline] { pipelines.withLock { Array($0.values) }.sorted { $0.id < $1.id } }

    private func build(_ record: CameraRecord, _ config: CameraConfig) throws -> CameraPipeline {
        let sourceSpec = config.source.spec
        var context = pluginContext(record.id, sourceSpec.type)
        if record.isSourceRestricted {
            // A user chose this source: the policy holds at every connect, also for a record
            // stored before the policy changed.
            guard sourcePolicy.userTypes.contains(sourceSpec.type) else {
                throw ConfigErrors([ConfigProblem(path: "source.type", reason: "the source policy does not allow '\(sourceSpec.type)' sources chosen by users")])
            }
            context.egress = sourceEgress
        }
        let hub = StreamHub(cameraID: record.id, metrics: metrics)
        guard let source = try registry.build(sourceSpec, as: (any CameraSource).self, context: context) else {
            throw ConfigErrors([ConfigProblem(path: "source.type", reason: "unknown source type '\(sourceSpec.type)'")])
        }
        let definitions = record.sinkDefinitions
        var slots: [CameraPipeline.SinkSlot] = []
        for (index, field) in config.sinks.enumerated() {
            if let slot = try slot(field, definition: index < definitions.count ? definitions[index] : .null, context: context, hub: hub) {
                slots.append(slot)
            }
        }
        let supervisor = CameraSupervisor(cameraID: record.id, source: source, hub: hub, events: events,
                                          logger: context.logger, policy: sourceSpec.sourceOptions.applied(to: policy),
                                          options: sourceSpec.sourceOptions, taps: slots.compactMap { $0.sink as? any SourceTap },
                                          metrics: metrics)
        return CameraPipeline(record: record, hub: hub, supervisor: supervisor, slots: slots, logger: context.logger)
    }

    private func slot(_ field: PluginField<SinkPluginKind>, definition: JSONValue, context: PluginContext, hub: StreamHub) throws -> CameraPipeline.SinkSlot? {
        guard let sink = try registry.build(field.spec, as: (any CameraSink).self, context: context, hub: hub) else { return nil }
        return CameraPipeline.SinkSlot(definition: definition, sink: sink,
                                       service: SinkService(cameraID: context.id, type: field.spec.type, sink: sink, logger: context.logger))
    }

    /// Applies a reloaded definition of a running camera whose source is unchanged: only the
    /// sinks that changed restart (their positions are returned); a name or owner change
    /// restarts nothing. Nil when the camera is not running. A sink that taps the source's own
    /// packets (the MJPEG passthrough) is wired into the source at its start: changing one
    /// restarts the camera.
    public func applySinks(_ record: CameraRecord) throws -> [Int]? {
        guard let pipeline = pipeline(id: record.id) else { return nil }
        let config = try validate(record).get()
        let definitions = record.sinkDefinitions
        let running = pipeline.sinkDefinitions
        let changed = CameraPipeline.changedPositions(running, definitions)
        let tapTypes: Set<String> = ["mjpeg"]
        func isTap(_ list: [JSONValue], _ index: Int) -> Bool {
            guard index < list.count, case .string(let type)? = list[index]["type"] else { return false }
            return tapTypes.contains(type)
        }
        let touchesTap = changed.contains { isTap(running, $0) || isTap(definitions, $0) }
        if touchesTap {
            try start(record)
            return changed
        }
        let context = pluginContext(record.id, config.source.spec.type)
        return try pipeline.replaceSinks(record: record, definitions: definitions) { index, definition in
            try slot(config.sinks[index], definition: definition, context: context, hub: pipeline.hub)
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await pipeline in self.starts {
                    group.addTask { await pipeline.run() }
                }
                group.cancelAll()
            }
        }
        for pipeline in all { pipeline.stop() }
    }
}
