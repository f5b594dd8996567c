import Hummingbird
import GatewayCore
import JSON

/// `GET /api/cameras/{id}/recordings?start=&end=` — the recorded spans of a camera — and
/// `GET /api/cameras/{id}/recordings/play?start=&duration=` — one MP4 stitched across segments
/// for that time range, starting at the keyframe at or before `start`, streamed as fragmented
/// MP4 while it is assembled. Viewers and up; playbacks at once are bounded (`limits`).
struct RecordingPlaybackRoutes {
    let storage: any StorageBackend
    let access: AccessControl
    let dataDirectory: String
    let slots: WorkSlots
    static let maximumDuration = 3600.0

    func register(on router: Router<GatewayRequestContext>) {
        router.get("/api/cameras/:id/recordings") { request, context in
            let cameraID = try context.parameters.require("id")
            _ = try await access.authorize(try context.principal(), cameraID: cameraID, for: .view)
            let query = request.uri.queryParameters
            let start = try Self.time(query.get("start"), name: "start") ?? 0
            let end = try Self.time(query.get("end"), name: "end") ?? .greatestFiniteMagnitude
            let segments = try await self.segments(cameraID, from: start, to: end)
            var spans: [(start: Double, end: Double, count: Int)] = []
            for segment in segments {
                // The segment being written counts up to now.
                guard let segmentStart = segment.start else { continue }
                let segmentEnd = segment.end ?? WallClock.now()
                if let last = spans.last, segmentStart - last.end < 2 {
                    spans[spans.count - 1] = (last.start, max(last.end, segmentEnd), last.count + 1)
                } else {
                    spans.append((segmentStart, segmentEnd, 1))
                }
            }
            return Response.json(.object(JSONObject([
                ("spans", .array(spans.map { span in .object(JSONObject([
                    ("start", .string(WallClock.iso8601(span.start))), ("end", .string(WallClock.iso8601(span.end))),
                    ("duration", .double(((span.end - span.start) * 1000).rounded() / 1000)), ("segments", .int(span.count)),
                ])) })),
            ])))
        }
        router.get("/api/cameras/:id/recordings/play") { request, context in
            let cameraID = try context.parameters.require("id")
            let principal = try context.principal()
            _ = try await access.authorize(principal, cameraID: cameraID, for: .view)
            let query = request.uri.queryParameters
            guard let start = try Self.time(query.get("start"), name: "start") else { throw GatewayError.badRequest("start is required") }
            guard let duration = query.get("duration").flatMap({ $0.utf8.count <= 64 && $0.utf8.allSatisfy { "0123456789.eE+-".utf8.contains($0) } ? Double($0) : nil }), duration > 0,
                  duration <= Self.maximumDuration else {
                throw GatewayError.badRequest("duration must be a number of seconds up to \(Int(Self.maximumDuration))")
            }
            let segments = try await self.segments(cameraID, from: start, to: start + duration)
            guard !segments.isEmpty else { throw GatewayError.notFound("nothing was recorded then") }
            let slot = try slots.acquire(for: principal, what: "playbacks")
            var headers = HTTPFields()
            headers[.contentType] = "video/mp4"
            headers[.contentDisposition] = "inline; filename=\"\(cameraID)-\(Int(start)).mp4\""
            headers[.cacheControl] = "private, no-store"
            // Streamed as it is assembled (fragmented MP4): nothing is held but a few GOPs, and a
            // client that leaves stops the work.
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { slot.release() }
                _ = try? await BoundedHandoff<[UInt8]>.pump(name: "playback:\(cameraID)", capacity: 4) { send in
                    try RecordingStitcher.stitch(segments, from: start, duration: duration, emit: send)
                } consume: { chunk in
                    try await writer.write(ByteBuffer(bytes: chunk))
                    return true
                }
                try await writer.finish(nil)
            })
        }
    }

    func segments(_ cameraID: String, from start: Double, to end: Double) async throws -> [VideoRecord] {
        try await storage.videos(VideoQuery(cameraIDs: [cameraID], kind: .recording, offset: 0, limit: 100_000)).videos
            .filter { ($0.status == .ready || $0.status == .recording) && ($0.start ?? 0) < end && ($0.end ?? WallClock.now()) > start }
            .sorted { ($0.start ?? 0) < ($1.start ?? 0) }
    }

    /// Unix seconds or RFC 3339, within the times the gateway represents (no NaN, no 1e300).
    static func time(_ text: String?, name: String) throws -> Double? {
        guard let text else { return nil }
        // `^[0-9]{1,11}(\.[0-9]{1,9})?$`, as openapi.yaml says.
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isNumber = parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isNumber } } && (1...11).contains(parts[0].count)
            && (parts.count == 1 || (1...9).contains(parts[1].count))
        guard let seconds = isNumber ? Double(text) : RFC3339.parse(text) else {
            throw GatewayError.badRequest("\(name) must be Unix seconds or an RFC 3339 time")
        }
        guard WallClock.representable.contains(seconds) else {
            throw GatewayError(.outOfRange, "\(name) must be a time between 1970 and 9999")
        }
        return seconds
    }
}
