import GatewayCore
import Hummingbird
import JSON

/// `GET /api/analytics/events` (counts per time bucket and camera) and `GET /api/analytics/summary`
/// (the totals a dashboard shows first), answered by an event backend that keeps events
/// queryable (`postgres`). Admins see everything; other users see the events about the cameras
/// they own. Without such a backend: 409 saying which one is needed.
struct AnalyticsRoutes: Sendable {
    let events: EventBus
    let access: AccessControl

    /// Bucket lengths: 1 minute to 31 days, at most this many buckets per request.
    static let bucketRange = 60...(31 * 86_400)
    static let maximumBuckets = 10_000
    static let defaultSpan = 86_400.0

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/analytics/events") { request, context in
            let (analytics, query) = try await self.query(request, try context.principal(), bucketed: true)
            let rows = try await analytics.counts(query)
            return Response.json(.object(JSONObject([
                ("bucket", .string(request.uri.queryParameters.get("bucket") ?? "1h")), ("from", .string(WallClock.iso8601(query.from))),
                ("to", .string(WallClock.iso8601(query.to))), ("buckets", .array(rows.map(Self.view))),
            ])))
        }
        router.get("/api/analytics/summary") { request, context in
            let (analytics, query) = try await self.query(request, try context.principal(), bucketed: false)
            let perCamera = try await analytics.counts(query)
            var total = AnalyticsCounts()
            for row in perCamera {
                total.logins += row.logins
                total.views += row.views
                total.viewingSeconds += row.viewingSeconds
                total.clips += row.clips
                total.recordings += row.recordings
                total.playbacks += row.playbacks
                total.events += row.events
            }
            var totals = Self.counts(total)
            totals["active_users"] = .int(try await analytics.activeUsers(query))
            let cameras = perCamera.filter { $0.camera != nil }.sorted { ($0.viewingSeconds, $0.views) > ($1.viewingSeconds, $1.views) }
            return Response.json(.object(JSONObject([
                ("from", .string(WallClock.iso8601(query.from))), ("to", .string(WallClock.iso8601(query.to))),
                ("totals", .object(totals)), ("cameras", .array(cameras.map(Self.view))),
            ])))
        }
    }

    private func query(_ request: Request, _ principal: Principal, bucketed: Bool) async throws -> (any EventAnalytics, AnalyticsQuery) {
        guard let analytics = events.backends.lazy.compactMap({ $0 as? any EventAnalytics }).first else {
            throw GatewayError(.analyticsUnavailable,
                               "analytics need the postgres event backend: add {\"type\": \"postgres\", \"url\": \"postgres://…\"} to \"events\" in plugins.json")
        }
        let parameters = request.uri.queryParameters
        let to = try RecordingPlaybackRoutes.time(parameters.get("to"), name: "to") ?? WallClock.now()
        let from = try RecordingPlaybackRoutes.time(parameters.get("from"), name: "from") ?? to - Self.defaultSpan
        guard from < to else { throw GatewayError.badRequest("from must be before to") }
        var query = AnalyticsQuery(from: from, to: to)
        if bucketed {
            let bucket = try Self.seconds(parameters.get("bucket") ?? "1h")
            guard (to - from) / Double(bucket) <= Double(Self.maximumBuckets) else {
                throw GatewayError(.outOfRange, "from..to spans more than \(Self.maximumBuckets) buckets; use a longer bucket or a shorter span")
            }
            query.bucketSeconds = bucket
        }
        if let type = parameters.get("type") {
            guard !type.isEmpty, type.utf8.count <= 64, type.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._".contains($0)) }) else {
                throw GatewayError.badRequest("type must be an event name (viewer.joined) or a category (clip)")
            }
            query.type = type
        }
        if let user = parameters.get("user") {
            guard !user.isEmpty, user.utf8.count <= 64 else { throw GatewayError.badRequest("user must be a username") }
            query.actor = user
        }
        let camera = parameters.get("camera")
        if let camera {
            let (_, role) = try await access.authorize(principal, cameraID: camera, for: .view)
            guard principal.isAdmin || role >= .owner else {
                throw GatewayError(.forbidden, "analytics of camera '\(camera)' are for its owner")
            }
            query.cameras = [camera]
        } else if !principal.isAdmin {
            query.cameras = try await access.visibleCameras(principal).filter { $0.1 >= CameraRole.owner }.map { $0.0.id }
        }
        return (analytics, query)
    }

    /// `90s`, `5m`, `1h`, `1d`, `1w` (or plain seconds) within `bucketRange`.
    static func seconds(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        let unit = text.last.flatMap { units[$0] }
        let digits = unit == nil ? Substring(text) : text.dropLast()
        guard (1...6).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits) else {
            throw GatewayError.badRequest("bucket must be a length such as 5m, 1h or 1d")
        }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: unit ?? 1)
        guard !overflow, bucketRange.contains(seconds) else {
            throw GatewayError(.outOfRange, "bucket must be between 1m and 31d")
        }
        return seconds
    }

    static func counts(_ row: AnalyticsCounts) -> JSONObject {
        JSONObject([("logins", .int(row.logins)), ("views", .int(row.views)), ("viewing_seconds", .double((row.viewingSeconds * 1000).rounded() / 1000)),
                    ("clips", .int(row.clips)), ("recordings", .int(row.recordings)), ("playbacks", .int(row.playbacks)), ("events", .int(row.events))])
    }

    static func view(_ row: AnalyticsCounts) -> JSONValue {
        var object = JSONObject()
        if let bucket = row.bucket { object["time"] = .string(WallClock.iso8601(bucket)) }
        object["camera"] = row.camera.map { .string($0) } ?? .null
        for (key, value) in counts(row).entries { object[key] = value }
        return .object(object)
    }
}
