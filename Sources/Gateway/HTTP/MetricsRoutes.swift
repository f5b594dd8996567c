import Hummingbird
import Metrics

/// `GET /metrics` in Prometheus text format.
struct MetricsRoutes {
    let runtime: GatewayRuntime

    func register(on router: Router<some RequestContext>) {
        let readerGauges = Dictionary(uniqueKeysWithValues: runtime.cameras.map {
            ($0.id, Gauge(label: MetricName.cameraReaders, dimensions: [("camera", $0.id)], factory: runtime.metricsFactory))
        })
        router.get("/metrics") { _, _ -> Response in
            for camera in runtime.cameras { readerGauges[camera.id]?.record(camera.hub.statistics.readers.count) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: runtime.metricsRegistry.emitToBuffer())))
        }
    }
}
