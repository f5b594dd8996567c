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
                let statistics = pipeline.hub.statistics
                let dimensions = [("camera", pipeline.id)]
                Gauge(label: MetricName.cameraReaders, dimensions: dimensions, factory: runtime.metricsFactory).record(statistics.readerCount)
                Gauge(label: MetricName.cameraLag, dimensions: dimensions, factory: runtime.metricsFactory).record(statistics.lagSeconds)
                Gauge(label: MetricName.cameraMaximumLag, dimensions: dimensions, factory: runtime.metricsFactory).record(statistics.maximumLagSeconds)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: runtime.metricsRegistry.emitToBuffer())))
        }
    }
}
