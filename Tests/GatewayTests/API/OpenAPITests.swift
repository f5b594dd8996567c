import Foundation
import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

/// openapi.yaml documents exactly the routes the router serves.
@Suite struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let gateway = try await TestGateway.start()
        let served = Set(gateway.runtime.makeRouter().routes.map { route -> String in
            let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            return "\(route.method.rawValue) /" + path.joined(separator: "/")
        })
        let document = try await gateway.run { http in try await http.request(.get, "/api/openapi.yaml") }
        #expect(document.status == 200)
        #expect(document.headers[.contentType]?.hasPrefix("application/yaml") == true)
        var documented: Set<String> = []
        var currentPath: String?
        var inPaths = false
        for line in document.text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                currentPath = String(line.dropFirst(2).dropLast())
                if currentPath!.count > 1, currentPath!.hasSuffix("/") { currentPath!.removeLast() }
            } else if let currentPath, line.hasPrefix("    "), !line.hasPrefix("     "),
                      let method = ["get", "head", "post", "patch", "put", "delete"].first(where: { line == "    \($0):" }) {
                documented.insert("\(method.uppercased()) \(currentPath)")
            }
        }
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        await gateway.runtime.storage.close()
    }
}
