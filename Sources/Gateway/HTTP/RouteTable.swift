import Hummingbird
import Synchronization
import GatewayCore

/// The methods each path of the router answers, so that a known path asked with another
/// method gets 405 and an `Allow` header (RFC 9110 §15.5.6) rather than 404.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [String], methods: Set<String>)]>([])

    /// Fills the table from the router once every route is registered.
    func record<Context>(_ router: Router<Context>) {
        var table: [[String]: Set<String>] = [:]
        for route in router.routes {
            let segments = route.path.description.split(separator: "/").map(String.init)
            table[segments, default: []].insert(route.method.rawValue)
        }
        routes.withLock { $0 = table.map { ($0.key, $0.value) } }
    }

    /// The methods allowed on `path`, or nil when no route has that path.
    func methods(for path: String) -> Set<String>? {
        let parts = path.split(separator: "/").map(String.init)
        var found: Set<String>?
        for route in routes.withLock({ $0 }) where route.segments.count == parts.count {
            let matches = zip(route.segments, parts).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            if matches { found = (found ?? []).union(route.methods) }
        }
        return found
    }
}
