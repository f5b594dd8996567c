import Hummingbird

/// `GET /api/openapi.yaml`: the API description, from `OpenAPIDocument.yaml`.
struct OpenAPIRoute {
    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
    }
}
