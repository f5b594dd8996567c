import Hummingbird
import Metrics
import GatewayCore

/// `GET /metrics` in Prometheus text format, for admins or the configured `server.metrics_token`.
struct MetricsRoutes {
    let runtime: GatewayRuntime

    func register(on router: Router<GatewayRequestContext>) {
        let metricsToken = runtime.config.server.metricsToken
        router.get("/metrics") { request, context -> Response in
            if metricsToken == nil || context.presented != .account(metricsToken ?? "") {
                guard try context.principal().isAdmin else {
                    throw GatewayError(.forbidden, "metrics are for admins")
                }
            }
            for pipeline in runtime.cameraManager.all {
                Gauge(label: MetricName.cameraReaders, dimensions: [("camera", pipeline.id)], factory: runtime.metricsFactory)
                    .record(pipeline.hub.statistics.readers.count)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: runtime.metricsRegistry.emitToBuffer())))
        }
    }
}
