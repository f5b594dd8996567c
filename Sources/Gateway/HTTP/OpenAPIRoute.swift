import Foundation
import Hummingbird
import GatewayCore

/// `GET /api/openapi.yaml`: the API description, `openapi.yaml` beside this file (a package
/// resource). A test keeps it in step with the router.
struct OpenAPIRoute {
    static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "" }
        return text
    }()

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/openapi.yaml") { _, _ in
            guard !Self.document.isEmpty else { throw GatewayError(.missingResource, "openapi.yaml is not installed") }
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Self.document)))
        }
    }
}
