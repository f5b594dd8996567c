import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import GatewayCore
import SocketIO

/// Everything plugins.json describes, built and ready to run: backends, users, cameras and
/// the HTTP API. `start` prepares (storage migrated, users and config cameras in place);
/// the services run when the application runs.
public final class GatewayRuntime: Sendable {
    public static let version = "0.2.0"

    public let config: GatewayConfig
    public let events: EventBus
    public let storage: any StorageBackend
    public let users: UserService
    public let access: AccessControl
    public let cameraManager: CameraManager
    public let cameras: CameraOperations
    public let socketIO: SocketIOServer
    public let streamTokens: StreamTokens
    public let metricsRegistry: PrometheusCollectorRegistry
    public let metricsFactory: any MetricsFactory
    public let startedAt: Double
    public let egressProxy: EgressProxy
    /// This node of a cluster (`cluster` in plugins.json); nil when the gateway runs alone.
    public let cluster: ClusterService?
    /// The use cases every front end shares.
    var clipControl: ClipControl { ClipControl(access: access, manager: cameraManager, limits: config.limits, calls: clusterCalls) }
    var recordingControl: RecordingControl { RecordingControl(access: access, manager: cameraManager, calls: clusterCalls) }
    /// In a cluster: requests between nodes, and live video relayed from the node running a camera.
    let clusterHTTP: ClusterHTTP?
    let liveRelay: ClusterLiveRelay?
    var clusterCalls: ClusterCalls? {
        guard let cluster, let clusterHTTP else { return nil }
        return ClusterCalls(cluster: cluster, http: clusterHTTP)
    }
    var relay: (cluster: ClusterService, feeds: ClusterLiveRelay)? {
        guard let cluster, let liveRelay else { return nil }
        return (cluster, liveRelay)
    }
    /// HLS players and video downloads, as viewing sessions.
    let requestSessions: RequestSessions
    let hlsCounters = HLSCounters()
    let hlsBuffers = ResourceBuffers()
    /// Video uploads and their processing.
    public let uploads: Uploads
    /// Recording playbacks running now (stitched ranges, Socket.IO `playVideo`), bounded.
    public let playbackSlots: WorkSlots
    let logger: Logger

    private init(config: GatewayConfig, events: EventBus, storage: any StorageBackend, users: UserService, cameraManager: CameraManager,
                 egressProxy: EgressProxy, clusterBackend: (any ClusterBackend)?, metricsRegistry: PrometheusCollectorRegistry,
                 metricsFactory: any MetricsFactory, logger: Logger) {
        self.config = config
        self.egressProxy = egressProxy
        self.events = events
        self.storage = storage
        self.users = users
        self.access = AccessControl(storage: storage)
        if let cached = storage as? CachedStorage {
            // A grant revoked or a camera changed through another gateway process ends this
            // process's open streams as soon as its invalidation arrives, not at the next re-check.
            cached.observeInvalidations { [access] keys in
                if CachedStorage.touchesAccess(keys) { access.changes.notify() }
            }
        }
        self.cameraManager = cameraManager
        if let clusterConfig = config.cluster, let clusterBackend {
            cluster = ClusterService(config: clusterConfig, backend: clusterBackend, storage: storage, manager: cameraManager, events: events,
                                     access: access, metrics: metricsFactory, logger: logger)
            let http = ClusterHTTP(signature: ClusterSignature(secret: config.auth.jwtSecret), nodeID: clusterConfig.nodeID)
            clusterHTTP = http
            liveRelay = ClusterLiveRelay(http: http, metrics: metricsFactory)
        } else {
            cluster = nil
            clusterHTTP = nil
            liveRelay = nil
        }
        self.cameras = CameraOperations(storage: storage, access: access, manager: cameraManager, events: events,
                                       sources: SourcePolicy(config: config.sources), limits: config.limits)
        requestSessions = RequestSessions(events: events)
        var uploadLogger = logger
        uploadLogger[metadataKey: "component"] = "uploads"
        uploads = Uploads(storage: storage, events: events, access: access, configuration: config.uploads,
                          dataDirectory: FileIO.absolute(config.server.dataDirectory), logger: uploadLogger)
        playbackSlots = WorkSlots(total: config.limits.playbacks, perUser: config.limits.playbacksPerUser)
        self.metricsRegistry = metricsRegistry
        self.metricsFactory = metricsFactory
        self.logger = logger
        startedAt = MonotonicTime.seconds()
        streamTokens = StreamTokens(tokens: users.tokens, idle: Double(config.auth.streamTokenTTLSeconds))
        socketIO = SocketIOServer(path: "/socket.io/", configuration: .init(pingInterval: 25, pingTimeout: 20, maxPayload: 1_000_000),
                                  connectTimeout: 45, logger: logger)
        GatewaySocketIO(users: users, cameras: cameras, manager: cameraManager, events: events, streams: streams,
                        clips: clipControl, recording: recordingControl, playbacks: playbackSlots, relay: relay).install(on: socketIO)
    }

    /// Builds the plugins, migrates storage, creates plugins.json's users (announcing generated
    /// passwords through `announce`), upserts its cameras and starts every stored camera.
    public static func start(config: GatewayConfig, registry: PluginRegistry, logger: Logger,
                             supervisorPolicy: CameraSupervisor.Policy = .init(),
                             announce: @escaping @Sendable (String) -> Void = Console.write) async throws -> GatewayRuntime {
        let metricsRegistry = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: metricsRegistry)
        let dataDirectory = FileIO.absolute(config.server.dataDirectory)
        try FileIO.makeDirectory(dataDirectory)
        // Temporary files of a previous run (stitched playback) are not kept.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/tmp")) ?? [] {
            FileIO.remove(dataDirectory + "/tmp/" + name)
        }
        let events = EventBus(logger: logger, metrics: metricsFactory)
        let storageBox = StorageBox()
        let commands = GatewayCommandsBox()
        let context: @Sendable (String, String?) -> PluginContext = { id, type in
            var logger = logger
            logger[metadataKey: "component"] = "\(id)"
            if let type { logger[metadataKey: "type"] = "\(type)" }
            return PluginContext(id: id, logger: logger, dataDirectory: dataDirectory, events: events, metrics: metricsFactory,
                                 storage: storageBox.storage, commands: commands)
        }

        let eventSpecs = config.events.isEmpty
            ? [PluginSpec(kind: .events, type: LogEventBackend.type, configuration: LogEventBackend.Configuration(), path: "events")]
            : config.events.map(\.spec)
        var backendNames: [String: Int] = [:]
        for spec in eventSpecs {
            guard let backend = try registry.build(spec, as: (any EventBackend).self, context: context("events", spec.type)) else {
                throw ConfigErrors([ConfigProblem(path: spec.path + ".type", reason: "event backend '\(spec.type)' is not available in this build")])
            }
            // The second backend of a type is `type-2`, and so on: the name of its spool directory and metrics.
            backendNames[spec.type, default: 0] += 1
            let name = backendNames[spec.type] == 1 ? spec.type : "\(spec.type)-\(backendNames[spec.type]!)"
            if let remote = backend as? any RemoteEventBackend {
                let spool = try EventSpool(directory: dataDirectory + "/spool/" + name, backend: name, maxEvents: spec.eventOptions.spoolMaxEvents,
                                           maxBytes: spec.eventOptions.spoolMaxBytes, metrics: metricsFactory)
                events.attach(remote, name: name, spool: spool)
            } else {
                events.attach(backend, name: name)
            }
        }

        let storageSpec = config.storage?.spec ?? StorageOpening.defaultSpec
        var storage = try await StorageOpening.open(storageSpec, registry: registry, context: context("storage", storageSpec.type))
        if let cacheSpec = config.cache?.spec {
            guard let cache = try registry.build(cacheSpec, as: (any StorageCache).self, context: context("cache", cacheSpec.type)) else {
                throw ConfigErrors([ConfigProblem(path: "cache.type", reason: "cache '\(cacheSpec.type)' is not available in this build")])
            }
            storage = CachedStorage(storage: storage, cache: cache, localTTL: cache.localTTL, metrics: metricsFactory)
        }
        storageBox.storage = storage

        let tokens = try await TokenService.make(config: config.auth, dataDirectory: dataDirectory)
        let users = try await UserService(storage: storage, hasher: PasswordHasher(cost: UInt8(config.auth.bcryptCost)), tokens: tokens,
                                          throttle: LoginThrottle(policy: .init(registrationsPerHour: config.auth.registrationsPerHour)), events: events, allowRegistration: config.auth.allowRegistration,
                                          logger: logger)
        try await users.bootstrap(config.users, announce: announce)

        var proxyLogger = logger
        proxyLogger[metadataKey: "component"] = "egress-proxy"
        let egressProxy = try EgressProxy(policy: config.sources.destinations, logger: proxyLogger)
        let manager = CameraManager(registry: registry, events: events, logger: logger, metrics: metricsFactory, policy: supervisorPolicy,
                                    baseDirectory: config.baseDirectory, sourcePolicy: config.sources,
                                    sourceEgress: SourceEgress(policy: config.sources.destinations, proxyURL: egressProxy.proxyURL),
                                    pluginContext: context)
        var clusterBackend: (any ClusterBackend)?
        if config.cluster != nil {
            guard let capable = ((storage as? CachedStorage)?.storage ?? storage) as? any ClusterCapableStorage else {
                throw ConfigErrors([ConfigProblem(path: "cluster", reason: "the storage backend '\(storageSpec.type)' cannot coordinate nodes; use postgres")])
            }
            var clusterLogger = logger
            clusterLogger[metadataKey: "component"] = "cluster"
            // A node cut off from the database stops its cameras well before the others may take
            // them (after lease_seconds): its requests on the lock session give up after a third of that.
            clusterBackend = try capable.makeCluster(logger: clusterLogger, timeout: (config.cluster?.leaseSeconds ?? 6) / 3)
        }
        // In a cluster the runtime places the cameras before any starts: each runs on one node.
        let runtime = GatewayRuntime(config: config, events: events, storage: storage, users: users, cameraManager: manager,
                                     egressProxy: egressProxy, clusterBackend: clusterBackend, metricsRegistry: metricsRegistry,
                                     metricsFactory: metricsFactory, logger: logger)
        let now = WallClock.now()
        for (camera, definition) in zip(config.cameras, config.cameraDefinitions) {
            let existing = try await storage.camera(id: camera.id)
            // Every node of a cluster reads the same file: a definition already stored as written stays untouched.
            if let existing, existing.origin == .config, existing.source == definition["source"] ?? .null,
               existing.sinks == definition["sinks"] ?? .array([]), existing.name == camera.name, existing.owner == camera.owner { continue }
            try await storage.upsertCamera(CameraRecord(config: camera, definition: definition, createdAt: existing?.createdAt ?? now, updatedAt: now))
        }
        for record in try await storage.cameras() {
            do {
                try manager.start(record)
            } catch {
                logger.error("stored camera cannot start", metadata: ["camera": "\(record.id)", "error": "\(error)"])
            }
        }
        commands.commands = ServiceCommands(users: users, clips: runtime.clipControl, recording: runtime.recordingControl)
        return runtime
    }

    /// The services that make the gateway run, besides the HTTP server.
    /// ServiceLifecycle shuts services down in reverse order: cameras first (their sinks finish
    /// clips and segments, emitting events), storage last.
    /// After `events`: at shutdown the open sessions end (emitting) before the events drain.
    /// The cluster service stops first: it hands the cameras over before they stop.
    public var services: [any Service] {
        [StorageCloser(storage: storage), events, requestSessions, hlsBuffers, uploads, egressProxy, socketIO, cameraManager] + (cluster.map { [$0] } ?? [])
    }

    /// Every route of the API, each file in HTTP/ registering its resource.
    public func makeRouter() -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        let routes = RouteTable()
        router.middlewares.add(ConnectionCloseMiddleware())
        router.middlewares.add(OriginListCORSMiddleware(origins: config.server.corsOrigins))
        router.middlewares.add(APIErrorMiddleware(routes: routes))
        router.middlewares.add(CredentialAuthenticator(check: CredentialCheck(users: users, streamTokens: streamTokens),
                                                       scope: .account(trustedOrigins: Set(config.server.corsOrigins.filter { $0 != "*" }))))
        HealthRoutes(runtime: self).register(on: router)
        MetricsRoutes(runtime: self).register(on: router)
        AuthRoutes(users: users).register(on: router)
        CameraRoutes(cameras: cameras, manager: cameraManager).register(on: router)
        ShareRoutes(cameras: cameras).register(on: router)
        StreamRoutes(streams: streams).register(on: router)
        UploadRoutes(uploads: uploads, access: access, storage: storage, users: users, streamTokens: streamTokens).register(on: router)
        VideoRoutes(storage: storage, access: access, events: events, sessions: requestSessions, uploads: uploads).register(on: router)
        ClipRoutes(clips: clipControl).register(on: router)
        AnalyticsRoutes(events: events, access: access).register(on: router)
        RecordingRoutes(recording: recordingControl).register(on: router)
        RecordingPlaybackRoutes(storage: storage, access: access, dataDirectory: FileIO.absolute(config.server.dataDirectory),
                                slots: playbackSlots).register(on: router)
        hlsRoutes.register(on: router)
        MJPEGRoutes(users: users, streamTokens: streamTokens, access: access, manager: cameraManager, cluster: cluster).register(on: router)
        SeedRoutes(cameras: cameras, manager: cameraManager).register(on: router)
        OpenAPIRoute().register(on: router)
        EventStreamRoute(events: events, access: access).register(on: router)
        UserRoutes(users: users, storage: storage, access: access, events: events).register(on: router)
        if config.server.console { ConsoleRoutes().register(on: router) }
        ClusterRoutes(cluster: cluster).register(on: router)
        if let clusterHTTP {
            // The owner runs the call itself: a camera that moved meanwhile answers 'not here', never a second hop.
            ClusterInternalRoutes(signature: clusterHTTP.signature, storage: storage, manager: cameraManager,
                                  clips: ClipControl(access: access, manager: cameraManager, limits: config.limits, calls: nil),
                                  recording: RecordingControl(access: access, manager: cameraManager, calls: nil),
                                  streams: StreamControl(access: access, manager: cameraManager, tokens: streamTokens, events: events, calls: nil))
                .register(on: router)
        }
        socketIO.engine.register(on: router, remoteAddress: { $0.remoteAddress }, arrival: { await RequestArrival.headTime(on: $0.channel) })
        liveWebSocket.register(on: router)
        routes.record(router)
        return router
    }

    /// The HTTP application with every service attached; run it (or `runService()` it).
    /// `additionalServices` run too, and stop first (the plugins.json reloader).
    public func makeApplication(additionalServices: [any Service] = [],
                                onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: .engineIO([socketIO.engine], otherWebSockets: { request in await self.liveWebSocket.session(for: request) },
                              immediate: { [hls = hlsRoutes] in hls.immediate($0) }),
            configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: Self.serverName),
            services: services + additionalServices,
            onServerRunning: { [cluster, host = config.server.host] channel in
                cluster?.serverRunning(host: host, port: channel.localAddress?.port ?? 0)
                await onServerRunning(channel.localAddress?.port ?? 0)
            },
            logger: logger)
    }

    static let serverName = "camera-gateway"

    public var uptime: Double { MonotonicTime.seconds() - startedAt }

    public var streams: StreamControl {
        StreamControl(access: access, manager: cameraManager, tokens: streamTokens, events: events, calls: clusterCalls)
    }

    var hlsRoutes: HLSRoutes {
        HLSRoutes(users: users, streamTokens: streamTokens, access: access, manager: cameraManager, metrics: metricsFactory, sessions: requestSessions,
                  counters: hlsCounters, buffers: hlsBuffers, cluster: cluster, cors: CORSPolicy(origins: config.server.corsOrigins))
    }

    var liveWebSocket: LiveWebSocketEndpoint {
        LiveWebSocketEndpoint(users: users, streamTokens: streamTokens, live: LiveViewing(cameras: cameras, manager: cameraManager, events: events, relay: relay), events: events)
    }
}

/// The storage backend, once built, for the plugin contexts made before it.
private final class StorageBox: @unchecked Sendable {
    var storage: (any StorageBackend)?
}

/// Closes storage when the gateway shuts down.
struct StorageCloser: Service {
    let storage: any StorageBackend
    func run() async throws {
        try? await gracefulShutdown()
        await storage.close()
    }
}
