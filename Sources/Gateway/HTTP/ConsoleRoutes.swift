import CompressNIO
import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import GatewayCore

/// The web console (docs/console.md): `GET /` is its page, `GET /console/…` its modules, styles
/// and icons — the files of `Console/` beside this directory, a package resource read once at
/// start (`index.html`, `console.css`, `icon.svg`, `js/*.js`). Each answer carries a strict Content-Security-Policy (scripts, styles and media from
/// the gateway only; no inline code, no frames), an ETag that is the content's hash
/// (`Cache-Control: no-cache`: the browser asks again and gets a 304 until the file changes), and
/// gzip when the browser takes it. Off with `server.console: false`.
struct ConsoleRoutes {
    struct Asset: Sendable {
        let body: ByteBuffer
        let gzipped: ByteBuffer?
        let etag: String
        let contentType: String
    }

    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "media-src 'self' blob:",
        "connect-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    /// Every file of the console, by its path below `Console/` (`index.html`, `js/app.js`).
    static let assets: [String: Asset] = {
        guard let root = Bundle.module.url(forResource: "Console", withExtension: nil) else { return [:] }
        var assets: [String: Asset] = [:]
        let base = root.standardizedFileURL.path
        for case let url as URL in FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) ?? .init() {
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(base + "/"), let data = FileManager.default.contents(atPath: path), !url.hasDirectoryPath else { continue }
            let name = String(path.dropFirst(base.count + 1))
            guard let type = contentType(of: name) else { continue }
            let body = ByteBuffer(bytes: data)
            let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            var gzipped: ByteBuffer?
            if !type.hasPrefix("image/png"), data.count > 256, var copy = Optional(body), let compressed = try? copy.compress(with: .gzip()),
               compressed.readableBytes < data.count {
                gzipped = compressed
            }
            assets[name] = Asset(body: body, gzipped: gzipped, etag: "\"\(digest)\"", contentType: type)
        }
        return assets
    }()

    static func contentType(of name: String) -> String? {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "json", "webmanifest": "application/manifest+json"
        default: nil
        }
    }

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/") { request, _ in try Self.serve("index.html", request) }
        router.get("/console/:file") { request, context in try Self.serve(try context.parameters.require("file"), request) }
        router.get("/console/js/:file") { request, context in try Self.serve("js/" + (try context.parameters.require("file")), request) }
    }

    static func serve(_ name: String, _ request: Request) throws -> Response {
        guard let asset = assets[name] else {
            if assets.isEmpty { throw GatewayError(.missingResource, "the console's files are not installed") }
            throw GatewayError.notFound("no such console file: \(name)")
        }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        headers[.vary] = "Accept-Encoding"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if let tags = request.headers[.ifNoneMatch], tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        if let gzipped = asset.gzipped, acceptsGzip(request.headers[.acceptEncoding]) {
            headers[.contentEncoding] = "gzip"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: gzipped))
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }

    /// `gzip` (or `*`) listed in Accept-Encoding with a weight above 0 (RFC 9110 §12.5.3).
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains { item in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == "gzip" || parts.first == "*" else { return false }
            guard let weight = parts.dropFirst().first(where: { $0.hasPrefix("q=") }) else { return true }
            return (Double(weight.dropFirst(2)) ?? 0) > 0
        }
    }
}
