import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Everything plugins.json describes, built and ready to run: backends, cameras with their
/// sources, hubs and sinks, and the HTTP server. `init` builds and validates; nothing runs
/// until the application is run.
public final class GatewayRuntime: Sendable {
    public static let version = "0.1.0"

    public let config: GatewayConfig
    public let cameras: [Camera]
    public let events: EventBus
    public let metricsRegistry: PrometheusCollectorRegistry
    public let metricsFactory: any MetricsFactory
    public let startedAt: Double
    let logger: Logger
    let sinkServices: [SinkService]

    public init(config: GatewayConfig, registry: PluginRegistry, logger: Logger,
                supervisorPolicy: CameraSupervisor.Policy = .init()) throws {
        self.config = config
        self.logger = logger
        startedAt = MonotonicTime.seconds()
        metricsRegistry = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: metricsRegistry)
        self.metricsFactory = metricsFactory
        let events = EventBus(logger: logger)
        self.events = events
        let dataDirectory = FileIO.absolute(config.server.dataDirectory)
        try FileIO.makeDirectory(dataDirectory)

        func context(_ id: String, type: String? = nil) -> PluginContext {
            var logger = logger
            logger[metadataKey: "component"] = "\(id)"
            if let type { logger[metadataKey: "type"] = "\(type)" }
            return PluginContext(id: id, logger: logger, dataDirectory: dataDirectory, events: events)
        }

        let eventSpecs = config.events.isEmpty
            ? [PluginSpec(kind: .events, type: LogEventBackend.type, configuration: LogEventBackend.Configuration(), path: "events")]
            : config.events.map(\.spec)
        for spec in eventSpecs {
            if let backend = try registry.build(spec, as: (any EventBackend).self, context: context("events", type: spec.type)) {
                events.attach(backend)
            } else {
                logger.warning("event backend is configured but not part of this build yet", metadata: ["type": "\(spec.type)"])
            }
        }
        if let storage = config.storage?.spec, !registry.isImplemented(.storage, type: storage.type) {
            logger.notice("storage backend is validated but not wired in this build yet", metadata: ["type": "\(storage.type)"])
        }

        var cameras: [Camera] = []
        var sinkServices: [SinkService] = []
        for cameraConfig in config.cameras {
            let cameraContext = context(cameraConfig.id, type: cameraConfig.source.spec.type)
            let hub = StreamHub(cameraID: cameraConfig.id, metrics: metricsFactory)
            guard let source = try registry.build(cameraConfig.source.spec, as: (any CameraSource).self, context: cameraContext) else {
                throw ConfigErrors([ConfigProblem(path: cameraConfig.source.spec.path, reason: "source type '\(cameraConfig.source.spec.type)' is not available in this build")])
            }
            var sinks: [any CameraSink] = []
            for sinkField in cameraConfig.sinks {
                let spec = sinkField.spec
                if let sink = try registry.build(spec, as: (any CameraSink).self, context: cameraContext, hub: hub) {
                    sinks.append(sink)
                    sinkServices.append(SinkService(cameraID: cameraConfig.id, type: spec.type, sink: sink, logger: cameraContext.logger))
                } else {
                    logger.notice("sink is validated but not part of this build yet", metadata: ["camera": "\(cameraConfig.id)", "type": "\(spec.type)"])
                }
            }
            let supervisor = CameraSupervisor(cameraID: cameraConfig.id, source: source, hub: hub, events: events,
                                              logger: cameraContext.logger, policy: supervisorPolicy, metrics: metricsFactory)
            cameras.append(Camera(id: cameraConfig.id, name: cameraConfig.name, owner: cameraConfig.owner,
                                  sourceType: cameraConfig.source.spec.type, hub: hub, supervisor: supervisor, sinks: sinks))
        }
        self.cameras = cameras
        self.sinkServices = sinkServices
    }

    /// The services that make the gateway run, besides the HTTP server.
    public var services: [any Service] {
        [events] + cameras.map(\.supervisor) + sinkServices
    }

    /// The HTTP application with every service attached; run it (or `runService()` it).
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.middlewares.add(APIErrorMiddleware())
        HealthRoutes(runtime: self).register(on: router)
        MetricsRoutes(runtime: self).register(on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: "camera-gateway"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    public var uptime: Double { MonotonicTime.seconds() - startedAt }
}

/// Runs one sink; a sink that fails is restarted after a pause, without touching the camera.
struct SinkService: Service {
    let cameraID: String
    let type: String
    let sink: any CameraSink
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff()
            var random = SystemRandomNumberGenerator()
            while !Task.isCancelled {
                do {
                    try await sink.run()
                    return
                } catch {
                    if Task.isCancelled { return }
                    let delay = backoff.nextDelay(using: &random)
                    logger.error("sink failed; restarting", metadata: ["sink": "\(type)", "error": "\(error)", "retry_in": "\(delay)"])
                    try? await Task.sleep(for: delay)
                }
            }
        }
    }
}
