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
        /// The gzipped body is another representation: another ETag.
        var gzippedETag: String { String(etag.dropLast()) + "-gz\"" }
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
            var source = body
            if !type.hasPrefix("image/png"), data.count > 256, let compressed = try? source.compress(with: .gzip()),
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
            throw GatewayError.notFound("no such console file: \(name.prefix(200))")
        }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        headers[.vary] = "Accept-Encoding"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        let gzipped = asset.gzipped.flatMap { acceptsGzip(request.headers[.acceptEncoding]) ? $0 : nil }
        let etag = gzipped == nil ? asset.etag : asset.gzippedETag
        headers[.eTag] = etag
        if let gzipped { headers[.contentEncoding] = "gzip" }
        if let tags = request.headers[.ifNoneMatch], matches(tags, etag: etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: gzipped ?? asset.body))
    }

    /// Whether Accept-Encoding gives `gzip` a weight above 0 — its own entry, else `*`'s
    /// (RFC 9110 §12.5.3).
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        var weights: [String: Double] = [:]
        for item in header.split(separator: ",").prefix(32) {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = parts.first, coding == "gzip" || coding == "*" else { continue }
            let weight = parts.dropFirst().first(where: { $0.hasPrefix("q=") }).map { Double($0.dropFirst(2)) ?? 0 } ?? 1
            weights[coding] = weight
        }
        return (weights["gzip"] ?? weights["*"] ?? 0) > 0
    }

    /// If-None-Match against `etag`: `*`, or any listed tag, weak (`W/`) or not (RFC 9110 §13.1.2).
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").prefix(64).contains { item in
            let tag = item.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
