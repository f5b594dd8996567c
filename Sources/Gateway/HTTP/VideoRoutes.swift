import Synchronization
import Hummingbird
import GatewayCore
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// `/api/videos` — clips, recordings and uploads alike (seed 004's routes are these): a
/// paginated list (`{data, meta: {page, limit, total, totalPages}}`, seed 003's shape), one
/// video, its file with range requests, and deletion (file and metadata). Every route runs the
/// access decision for the video's camera.
struct VideoRoutes {
    let storage: any StorageBackend
    let access: AccessControl
    let events: EventBus
    /// Downloads and ranged plays of a video, as viewing sessions.
    let sessions: RequestSessions
    /// Where uploads keep their files (nil in tests without uploads).
    var uploads: Uploads?

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/videos") { request, context in try await list(request, principal: try context.principal()) }
        router.get("/api/videos/:id") { _, context in
            let video = try await authorized(try context.parameters.require("id"), principal: try context.principal(), for: .view)
            return Response.json(Views.video(video))
        }
        router.get("/api/videos/:id/stream") { request, context in try await stream(request, context: context, head: false) }
        router.head("/api/videos/:id/stream") { request, context in try await stream(request, context: context, head: true) }
        router.delete("/api/videos/:id") { _, context in
            let principal = try context.principal()
            let video = try await authorized(try context.parameters.require("id"), principal: principal, for: .manage)
            _ = try await storage.deleteVideo(id: video.id)
            FileIO.remove(video.path)
            if video.kind == .upload, let uploads {
                // The MP4, the HLS and the thumbnail; and the received file if it still waits.
                FileIO.removeTree(uploads.videoDirectory(video.id))
                FileIO.remove(uploads.sourcePath(video.id))
            }
            events.emit(GatewayEvent(name: "video.deleted", actor: principal.username, camera: video.cameraID,
                                     details: JSONObject([("video", .string(video.id)), ("kind", .string(video.kind.rawValue))])))
            return Response(status: .noContent)
        }
    }

    /// The video, if the caller may do `action` with it (the one access decision).
    func authorized(_ id: String, principal: Principal, for action: CameraAction) async throws -> VideoRecord {
        try await access.authorize(principal, videoID: id, for: action)
    }

    func list(_ request: Request, principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try Self.number(query.get("page"), name: "page", default: 1, range: 1...1_000_000)
        let limit = try Self.number(query.get("limit"), name: "limit", default: 20, range: 1...100)
        var kind: VideoKind?
        if let text = query.get("kind") {
            guard let parsed = VideoKind(rawValue: text) else {
                throw GatewayError.badRequest("kind must be one of \(VideoKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = parsed
        }
        var cameraIDs: [String]?
        if let camera = query.get("camera") {
            _ = try await access.authorize(principal, cameraID: camera, for: .view)
            cameraIDs = [camera]
        } else if !principal.isAdmin {
            cameraIDs = try await access.visibleCameras(principal).map(\.0.id)
        }
        let (videos, total) = try await storage.videos(VideoQuery(cameraIDs: cameraIDs, kind: kind, offset: (page - 1) * limit, limit: limit))
        return Self.page(videos, page: page, limit: limit, total: total)
    }

    /// A query parameter that is a whole number within `range` (400 otherwise).
    static func number(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw GatewayError.badRequest("\(name) must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// Seed 003's page: `{data, meta: {page, limit, total, totalPages}}`.
    static func page(_ videos: [VideoRecord], page: Int, limit: Int, total: Int) -> Response {
        Response.json(.object(JSONObject([
            ("data", .array(videos.map(Views.video))),
            ("meta", .object(JSONObject([("page", .int(page)), ("limit", .int(limit)), ("total", .int(total)),
                                          ("totalPages", .int((total + limit - 1) / limit))]))),
        ])))
    }

    func stream(_ request: Request, context: GatewayRequestContext, head: Bool) async throws -> Response {
        let video = try await authorized(try context.parameters.require("id"), principal: try context.principal(), for: .view)
        if video.kind == .upload, video.status != .ready {
            throw GatewayError(.noVideo, "video '\(video.id)' is \(video.status.rawValue)", retryAfter: video.status == .processing ? 5 : nil)
        }
        var info = stat()
        guard stat(video.path, &info) == 0 else { throw GatewayError.notFound("the file of video '\(video.id)' is missing") }
        let size = Int(info.st_size)
        let modified = HTTPDate.format(Double(info.st_mtim.tv_sec))
        let etag = "\"\(size)-\(info.st_mtim.tv_sec)-\(info.st_mtim.tv_nsec)\""
        var headers = HTTPFields()
        headers[.contentType] = "video/mp4"
        headers[.acceptRanges] = "bytes"
        headers[.eTag] = etag
        headers[.lastModified] = modified
        headers[.cacheControl] = "private, max-age=60"
        // If-Range: the range only holds for the representation the client has.
        let rangeValid = request.headers[.ifRange].map { $0 == etag || $0 == modified } ?? true
        var range: Range<Int>?
        if let header = request.headers[.range], rangeValid, !header.contains(",") {
            guard let parsed = RangeResponse.parse(header, size: size) else {
                headers[.contentRange] = "bytes */\(size)"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            }
            range = parsed
        }
        let served = range ?? 0..<size
        headers[.contentLength] = String(served.count)
        if range != nil { headers[.contentRange] = "bytes \(served.lowerBound)-\(served.upperBound - 1)/\(size)" }
        let status: HTTPResponse.Status = range != nil ? .partialContent : .ok
        if head || served.isEmpty { return Response(status: status, headers: headers, body: .init()) }
        let principal = try context.principal()
        sessions.record(.playback, user: principal.username, subject: "video:" + video.id, camera: video.cameraID,
                        details: JSONObject([("video", .string(video.id)), ("via", .string("http"))]), bytes: served.count)
        let body = try await Hummingbird.FileIO().loadFile(path: video.path, range: served.lowerBound...(served.upperBound - 1), context: context)
        return Response(status: status, headers: headers, body: body)
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    private static let last = Mutex<(second: Int, text: String)>((-1, ""))

    /// Now, formatted once per second.
    static func current() -> String {
        let now = WallClock.now()
        let second = Int(now)
        if let text = last.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(now)
        last.withLock { $0 = (second, text) }
        return text
    }

    static func format(_ time: Double) -> String {
        var seconds = time_t(time)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
