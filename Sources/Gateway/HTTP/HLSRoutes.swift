import CompressNIO
import Hummingbird
import Metrics
import GatewayCore
import JSON
import SocketIO
import Synchronization

/// `/hls/{camera}/index.m3u8` (media), `/hls/{camera}/master.m3u8` (multivariant) and their
/// init segments, segments and parts; seed 001's `/streams/{camera}/…` serves the same. Every
/// request — playlist or segment — is authorized: a bearer token or cookie, or the
/// camera-scoped stream token in `?token=` that playlists put on every URI (renewed on each
/// playlist load), and then the access decision.
struct HLSRoutes {
    let users: UserService
    let streamTokens: StreamTokens
    let access: AccessControl
    let manager: CameraManager
    let metrics: any MetricsFactory
    /// HLS players, as viewing sessions (`viewer.joined` / `viewer.left` with `via: hls`).
    let sessions: RequestSessions
    /// Per-camera counters, made once (not looked up by label on every request).
    let counters: HLSCounters
    /// Resources several players fetch, as buffers every response shares.
    let buffers: ResourceBuffers
    /// In a cluster: players of cameras other nodes run are sent there.
    let cluster: ClusterService?
    /// `server.cors_origins`, for the immediate path's answers (the router's middleware uses the same).
    let cors: CORSPolicy

    func register(on router: Router<GatewayRequestContext>) {
        let media = router.group().add(middleware: CredentialAuthenticator(check: CredentialCheck(users: users, streamTokens: streamTokens, recent: access.recent),
                                                                           scope: .cameraMedia(parameter: "camera")))
        for prefix in ["/hls", "/streams"] {
            media.get("\(prefix)/:camera/:file") { request, context in try await serve(request, context: context, head: false) }
            media.head("\(prefix)/:camera/:file") { request, context in try await serve(request, context: context, head: true) }
        }
    }

    /// The provider of `cameraID` after authorization, and the caller.
    func authorize(_ request: Request, context: GatewayRequestContext, cameraID: String) async throws -> (any HLSProvider, Principal) {
        let principal = try context.principal()
        _ = try await access.authorizeMedia(principal, cameraID: cameraID, for: .view)
        guard let provider = manager.sink(of: cameraID, as: (any HLSProvider).self) else {
            throw GatewayError.notFound("camera '\(cameraID)' has no HLS sink")
        }
        return (provider, principal)
    }

    func serve(_ request: Request, context: GatewayRequestContext, head: Bool) async throws -> Response {
        let cameraID = try context.parameters.require("camera")
        let file = try context.parameters.require("file")
        if let cluster, manager.pipeline(id: cameraID) == nil {
            let principal = try context.principal()
            _ = try await access.authorizeMedia(principal, cameraID: cameraID, for: .view)
            if let redirect = try await cluster.redirect(cameraID: cameraID, uri: request.uri, runsHere: false, token: {
                try await streamTokens.token(userID: principal.userID, cameraID: cameraID)
            }) { return redirect }
        }
        let (provider, principal) = try await authorize(request, context: context, cameraID: cameraID)
        await provider.touch(player: principal.username)
        var response: Response
        if file == "index.m3u8" || file == "master.m3u8" {
            // A camera that is failing will not produce a segment while the player waits.
            if let state = manager.pipeline(id: cameraID)?.supervisor.currentStatus.state, state == .reconnecting || state == .offline {
                throw GatewayError(.streamUnavailable, "the camera is \(state.rawValue)", retryAfter: 2)
            }
            let token = try await streamTokens.token(userID: principal.userID, cameraID: cameraID)
            let query = "?token=\(token)"
            let text: String
            do {
                if file == "master.m3u8" {
                    text = try await provider.multivariantPlaylist(query: query)
                } else {
                    text = try await provider.mediaPlaylist(query: query, blockUntil: try blockingTarget(request))
                }
            } catch HLSError.unavailable {
                throw GatewayError(.streamUnavailable, "the camera has produced no segment yet", retryAfter: 1)
            } catch HLSError.badRequest(let message) {
                throw GatewayError.badRequest(message)
            }
            let (headers, body) = Self.playlist(text, acceptEncoding: request.headers[.acceptEncoding])
            response = Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        } else {
            guard file.hasSuffix(".m4s") || file.hasSuffix(".mp4"), let resource = await provider.resource(named: file) else {
                throw GatewayError.notFound("no \(file) in this stream")
            }
            if request.headers[.range] != nil {
                response = RangeResponse.make(resource.chunks, contentType: resource.contentType, request: request)
            } else if head {
                // No bytes to copy or keep for a HEAD.
                response = Response(status: .ok, headers: RangeResponse.headers(contentType: resource.contentType, size: resource.count))
            } else {
                response = RangeResponse.whole(buffers.buffer(for: resource), contentType: resource.contentType)
            }
            response.headers[.cacheControl] = Self.segmentCaching
        }
        let bytes = response.headers[.contentLength].flatMap(Int.init) ?? 0
        served(cameraID: cameraID, player: principal.username, bytes: head ? 0 : bytes)
        // HEAD: the headers of the GET, Content-Length included, and no body.
        if head { response.body = ResponseBody(contentLength: bytes) { writer in try await writer.finish(nil) } }
        return response
    }

    static let segmentCaching = "private, max-age=3600, immutable"

    /// A playlist's headers and body, gzipped when the client accepts it.
    static func playlist(_ text: String, acceptEncoding: String?) -> (HTTPFields, ByteBuffer) {
        var body = ByteBuffer(string: text)
        var headers = HTTPFields()
        headers[.contentType] = "application/vnd.apple.mpegurl"
        headers[.cacheControl] = "no-cache"
        headers[.vary] = "Accept-Encoding"
        if acceptEncoding?.lowercased().contains("gzip") == true, let compressed = try? body.compress(with: .gzip()) {
            body = compressed
            headers[.contentEncoding] = "gzip"
        }
        headers[.contentLength] = String(body.readableBytes)
        return (headers, body)
    }

    /// Counts a request served to `player` (metrics, and the player's viewing session).
    func served(cameraID: String, player: String, bytes: Int, immediately: Bool = false) {
        let counters = counters.of(cameraID, factory: metrics)
        counters.requests.increment()
        counters.bytes.increment(by: bytes)
        if immediately { counters.immediate.increment() }
        sessions.record(.live, user: player, subject: "camera:" + cameraID, camera: cameraID,
                        details: JSONObject([("via", .string("hls"))]), bytes: bytes)
    }

    /// The answer to a player's request when everything it needs was settled by a request of the
    /// same player within the last second — its stream token's principal and access decision
    /// (`MediaAccessCache`), the muxer's touch, the playlist rendered or the segment in memory —
    /// made on the connection's event loop without a task (`ImmediateResponses`); nil otherwise,
    /// and the request takes the router's path, which settles those things again. Only a stream
    /// token in the query (what players use) and only GETs without a range or a blocking reload.
    func immediate(_ request: ImmediateRequest) -> ImmediateResponse? {
        guard let (cameraID, file, token) = Self.mediaTarget(request.target),
              let (principal, _) = access.recent.known(streamToken: token, subject: cameraID, action: .view),
              let provider = manager.sink(of: cameraID, as: (any HLSProvider).self),
              let answer = provider.immediate(player: principal.username, file: file) else { return nil }
        var headers: HTTPFields
        let body: ByteBuffer
        switch answer {
        case .playlist(let rendered):
            if let state = manager.pipeline(id: cameraID)?.supervisor.currentStatus.state, state == .reconnecting || state == .offline { return nil }
            guard let live = streamTokens.liveToken(userID: principal.userID, cameraID: cameraID) else { return nil }
            (headers, body) = Self.playlist(rendered.with(query: "?token=" + live), acceptEncoding: request.acceptEncoding)
        case .resource(let resource):
            body = buffers.buffer(for: resource)
            headers = RangeResponse.headers(contentType: resource.contentType, size: body.readableBytes)
            headers[.cacheControl] = Self.segmentCaching
        }
        served(cameraID: cameraID, player: principal.username, bytes: body.readableBytes, immediately: true)
        headers[.date] = HTTPDate.current()
        headers[.server] = GatewayRuntime.serverName
        if let origin = request.origin { cors.apply(origin: origin, to: &headers) }
        return ImmediateResponse(head: HTTPResponse(status: .ok, headerFields: headers), body: body)
    }

    /// `/hls|streams/{camera}/{file}?token=…` with nothing else in the query and nothing encoded:
    /// the camera, the file (the media playlist, a segment, a part or an init segment) and the token.
    /// One pass over the bytes (Foundation's `contains` on a `String` costs more than the rest of
    /// an immediate answer).
    static func mediaTarget(_ target: String) -> (camera: String, file: String, token: String)? {
        let bytes = target.utf8
        guard bytes.count <= 2048 else { return nil }
        var slashes: [String.Index] = []
        var question: String.Index?
        var index = bytes.startIndex
        while index != bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: "&"): return nil
            case UInt8(ascii: "/") where question == nil:
                guard slashes.count < 3 else { return nil }
                slashes.append(index)
            case UInt8(ascii: "?") where question == nil: question = index
            default: break
            }
            index = bytes.index(after: index)
        }
        guard let question, slashes.count == 3, slashes[0] == bytes.startIndex else { return nil }
        let prefix = target[bytes.index(after: slashes[0])..<slashes[1]]
        let camera = target[bytes.index(after: slashes[1])..<slashes[2]]
        let file = target[bytes.index(after: slashes[2])..<question]
        let query = target[bytes.index(after: question)...]
        guard prefix == "hls" || prefix == "streams", !camera.isEmpty, query.hasPrefix("token="), query.utf8.count > 6,
              file == "index.m3u8" || file.hasSuffix(".m4s") || file.hasSuffix(".mp4") else { return nil }
        return (String(camera), String(file), String(query.dropFirst(6)))
    }

    /// `_HLS_msn` / `_HLS_part` of a blocking playlist reload.
    func blockingTarget(_ request: Request) throws -> (sequence: Int, part: Int?)? {
        let query = request.uri.queryParameters
        guard let msnText = query.get("_HLS_msn") else {
            if query.get("_HLS_part") != nil { throw GatewayError(.invalidRequest, "_HLS_part needs _HLS_msn",
                                   details: [ConfigProblem(path: "_HLS_part", reason: "needs _HLS_msn", isUnusable: true)]) }
            return nil
        }
        guard let msn = Int(msnText), msn >= 0 else { throw GatewayError.badRequest("_HLS_msn must be a number") }
        let part = try query.get("_HLS_part").map { text -> Int in
            guard let part = Int(text), part >= 0 else { throw GatewayError.badRequest("_HLS_part must be a number") }
            return part
        }
        return (msn, part)
    }
}

/// Byte ranges (RFC 9110 §14): one range per request; anything unsatisfiable is a 416.
enum RangeResponse {
    static func make(_ bytes: [UInt8], contentType: String, request: Request) -> Response {
        make([bytes], contentType: contentType, request: request)
    }

    /// A response made of `chunks` (a segment's parts), or the range asked for across them,
    /// written one chunk after the other, never joined.
    static func make(_ chunks: [[UInt8]], contentType: String, request: Request) -> Response {
        guard let header = request.headers[.range] else {
            let (headers, buffer) = whole(chunks, contentType: contentType)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: buffer))
        }
        let size = chunks.reduce(0) { $0 + $1.count }
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.acceptRanges] = "bytes"
        guard let range = parse(header, size: size) else {
            headers[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
        headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        headers[.contentLength] = String(range.count)
        var slices: [ArraySlice<UInt8>] = []
        var offset = 0
        for chunk in chunks {
            let chunkRange = offset..<(offset + chunk.count)
            offset = chunkRange.upperBound
            let overlap = chunkRange.clamped(to: range)
            if !overlap.isEmpty { slices.append(chunk[(overlap.lowerBound - chunkRange.lowerBound)..<(overlap.upperBound - chunkRange.lowerBound)]) }
        }
        return Response(status: .partialContent, headers: headers, body: ResponseBody(byteBuffer: buffer(slices, size: range.count)))
    }

    /// The headers and body of all of `chunks` (a 200).
    static func whole(_ chunks: [[UInt8]], contentType: String) -> (HTTPFields, ByteBuffer) {
        let size = chunks.reduce(0) { $0 + $1.count }
        return (headers(contentType: contentType, size: size), buffer(chunks, size: size))
    }

    /// A 200 of `body`, whole.
    static func whole(_ body: ByteBuffer, contentType: String) -> Response {
        Response(status: .ok, headers: headers(contentType: contentType, size: body.readableBytes), body: ResponseBody(byteBuffer: body))
    }

    static func headers(contentType: String, size: Int) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(size)
        return headers
    }

    /// One buffer, written at once: a segment's parts are copied into it back to back (the one
    /// copy NIO needs anyway), rather than written one by one.
    static func buffer<Chunk: Collection<UInt8> & Sendable>(_ chunks: [Chunk], size: Int) -> ByteBuffer {
        if chunks.count == 1 { return ByteBuffer(bytes: chunks[0]) }
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        for chunk in chunks { buffer.writeBytes(chunk) }
        return buffer
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n` as a half-open range within `size`, or nil. Numbers
    /// of any length are accepted and clamped to the file, never overflowing.
    static func parse(_ header: String, size: Int) -> Range<Int>? {
        guard size > 0, header.utf8.count <= 200 else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = trimmed.dropFirst(6)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = String(spec[..<dash])
        let last = String(spec[spec.index(after: dash)...])
        if first.isEmpty {
            guard let suffix = decimal(last), suffix > 0 else { return nil }
            return (suffix >= size ? 0 : size - suffix)..<size
        }
        guard let start = decimal(first), start < size else { return nil }
        if last.isEmpty { return start..<size }
        guard let end = decimal(last), end >= start else { return nil }
        return start..<(end >= size - 1 ? size : end + 1)
    }

    /// A run of ASCII digits as a number, saturating at `Int.max`; nil for anything else.
    static func decimal(_ text: String) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = overflow1 || overflow2 ? Int.max : added
        }
        return value
    }
}

/// The HLS counters of each camera, made at a camera's first request.
final class HLSCounters: Sendable {
    struct Set: Sendable {
        let requests: Counter
        let bytes: Counter
        let immediate: Counter
    }

    private let made = Mutex<[String: Set]>([:])

    func of(_ cameraID: String, factory: any MetricsFactory) -> Set {
        if let known = made.withLock({ $0[cameraID] }) { return known }
        let dimensions = [("camera", cameraID)]
        let counters = Set(requests: Counter(label: MetricName.hlsRequests, dimensions: dimensions, factory: factory),
                           bytes: Counter(label: MetricName.hlsBytes, dimensions: dimensions, factory: factory),
                           immediate: Counter(label: MetricName.hlsImmediate, dimensions: dimensions, factory: factory))
        return made.withLock { made in
            if made.count >= 10_000 { made.removeAll() }
            if let known = made[cameraID] { return known }
            made[cameraID] = counters
            return counters
        }
    }
}
