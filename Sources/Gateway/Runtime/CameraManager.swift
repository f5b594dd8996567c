import Logging
import Metrics
import ServiceLifecycle
import Synchronization

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
    private let starts: AsyncStream<CameraPipeline>
    private let startContinuation: AsyncStream<CameraPipeline>.Continuation

    init(registry: PluginRegistry, events: EventBus, logger: Logger, metrics: any MetricsFactory, policy: CameraSupervisor.Policy,
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

    /// Starts (or restarts) the camera of `record`; only that camera's pipeline is touched.
    public func start(_ record: CameraRecord) throws {
        let config = try validate(record).get()
        let pipeline = try build(record, config)
        let previous = pipelines.withLock { pipelines in
            defer { pipelines[record.id] = pipeline }
            return pipelines[record.id]
        }
        previous?.stop()
        startContinuation.yield(pipeline)
    }

    public func stop(id: String) {
        pipelines.withLock { $0.removeValue(forKey: id) }?.stop()
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
        let source = try registry.build(sourceSpec, as: (any CameraSource).self, context: context)
            ?? UnavailableSource(type: sourceSpec.type)
        var sinks: [any CameraSink] = []
        var services: [SinkService] = []
        for field in config.sinks {
            if let sink = try registry.build(field.spec, as: (any CameraSink).self, context: context, hub: hub) {
                sinks.append(sink)
                services.append(SinkService(cameraID: record.id, type: field.spec.type, sink: sink, logger: context.logger))
            } else {
                logger.notice("sink is validated but not part of this build yet", metadata: ["camera": "\(record.id)", "type": "\(field.spec.type)"])
            }
        }
        let supervisor = CameraSupervisor(cameraID: record.id, source: source, hub: hub, events: events,
                                          logger: context.logger, policy: sourceSpec.sourceOptions.applied(to: policy),
                                          options: sourceSpec.sourceOptions, taps: sinks.compactMap { $0 as? any SourceTap },
                                          metrics: metrics)
        return CameraPipeline(record: record, hub: hub, supervisor: supervisor, sinks: sinks, sinkServices: services, logger: context.logger)
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
