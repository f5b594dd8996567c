import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import JSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Uploads: `POST /api/videos/upload` (multipart/form-data: `video`, `title`, `cameraId`),
/// the resumable `/api/videos/uploads` (tus 1.0: create with `Upload-Length`, `PATCH` at
/// `Upload-Offset`, `HEAD` for the offset, `DELETE` to give up), `GET /api/videos/my` (seed 003's
/// page), and an upload's HLS and thumbnail. Bodies stream to a file under `data_dir/uploads/tmp`
/// in 1 MiB writes on an IO thread; nothing holds a whole file in memory.
struct UploadRoutes {
    let uploads: Uploads
    let access: AccessControl
    let storage: any StorageBackend
    let users: UserService
    let streamTokens: StreamTokens
    /// Resumable uploads being written to now (one PATCH at a time each).
    let busy = ActiveUploads()

    static let tusVersion = "1.0.0"
    /// Multipart overhead allowed beyond `max_bytes` before the body is refused unread.
    static let envelopeBytes = 1 << 20
    static let fieldBytes = 4096
    static let fields: Set<String> = ["video", "title", "cameraId"]

    func register(on router: Router<GatewayRequestContext>) {
        router.post("/api/videos/upload") { request, context in try await multipart(request, context: context) }
        router.get("/api/videos/my") { request, context in try await mine(request, principal: try context.principal()) }
        router.post("/api/videos/uploads") { request, context in try await create(request, principal: try context.principal()) }
        router.head("/api/videos/uploads/:upload") { _, context in
            let (state, _) = try resumable(try context.parameters.require("upload"), principal: try context.principal())
            return tusResponse(.ok, offset: state.offset, length: state.length)
        }
        router.patch("/api/videos/uploads/:upload") { request, context in try await patch(request, context: context) }
        router.delete("/api/videos/uploads/:upload") { _, context in
            let (_, paths) = try resumable(try context.parameters.require("upload"), principal: try context.principal())
            FileIO.remove(paths.data)
            FileIO.remove(paths.state)
            return tusResponse(.noContent)
        }
        let media = router.group().add(middleware: CredentialAuthenticator(check: CredentialCheck(users: users, streamTokens: streamTokens),
                                                                           scope: .cameraMedia(parameter: "id", prefix: Self.tokenPrefix)))
        media.get("/api/videos/:id/hls/:file") { request, context in try await hls(request, context: context) }
        media.get("/api/videos/:id/thumbnail.jpg") { request, context in
            let video = try await ready(try context.parameters.require("id"), principal: try context.principal())
            let bytes = try FileIO.read(uploads.videoDirectory(video.id) + "/" + VODPackager.thumbnailName)
            var response = RangeResponse.make(bytes, contentType: "image/jpeg", request: request)
            response.headers[.cacheControl] = "private, max-age=3600"
            return response
        }
    }

    /// Stream tokens for an upload's HLS name `video:{id}` (camera ids cannot hold a colon).
    static let tokenPrefix = "video:"

    // MARK: multipart

    func multipart(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let principal = try context.principal()
        guard let boundary = MultipartReader.boundary(of: request.headers[.contentType]) else {
            throw GatewayError(.unsupportedMedia, "send the video as multipart/form-data (field `video`), or use the resumable /api/videos/uploads")
        }
        let limit = uploads.configuration.maxBytes
        if let length = request.headers[.contentLength].flatMap(Int.init) {
            guard length <= limit + Self.envelopeBytes else { throw Self.tooLarge(limit) }
            try await uploads.checkQuota(principal, adding: max(0, length - Self.envelopeBytes))
        }
        let temporary = try uploads.temporaryPath()
        let file = try UploadFile(path: temporary, append: false)
        var reader = MultipartReader(boundary: boundary)
        var fields: [String: String] = [:]
        var current: MultipartReader.Part?
        var value: [UInt8] = []
        var filename: String?
        var sawFile = false
        do {
            for try await chunk in request.body {
                for event in try reader.feed(chunk.readableBytesView) {
                    switch event {
                    case .begin(let part):
                        guard Self.fields.contains(part.name) else {
                            throw GatewayError.badRequest("unknown form field; the fields are \(Self.fields.sorted().joined(separator: ", "))")
                        }
                        current = part
                        value = []
                        if part.name == "video" {
                            guard !sawFile else { throw GatewayError.badRequest("one file per upload, in the field `video`") }
                            sawFile = true
                            filename = part.filename
                        }
                    case .data(let bytes):
                        if current?.name == "video" {
                            try await file.write(bytes)
                            guard file.size <= limit else { throw Self.tooLarge(limit) }
                        } else {
                            value += bytes
                            guard value.count <= Self.fieldBytes else { throw GatewayError.badRequest("form fields are limited to 4 KiB") }
                        }
                    case .end:
                        if let name = current?.name, name != "video" { fields[name] = String(decoding: value, as: UTF8.self) }
                        current = nil
                    }
                }
            }
            guard reader.isFinished else { throw GatewayError.badRequest("the multipart body ended before its closing delimiter") }
            guard sawFile else { throw GatewayError.badRequest("no file in the field `video`") }
            try await file.close()
        } catch let error as MultipartReader.Failure {
            await file.discard()
            throw GatewayError.badRequest(error.description)
        } catch {
            await file.discard()
            throw error
        }
        let title = fields["title"].flatMap { $0.isEmpty ? nil : $0 }
        if let title, title.count > 200 || title.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw GatewayError.badRequest("title is at most 200 characters, without control characters")
        }
        let cameraID = fields["cameraId"].flatMap { $0.isEmpty ? nil : $0 }
        let video = try await uploads.accept(file: temporary, owner: principal, cameraID: cameraID, title: title, originalName: filename)
        return Response.json(Views.video(video), status: .accepted)
    }

    static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(.quotaExceeded, "uploads are limited to \(Uploads.megabytes(limit))")
    }

    // MARK: resumable (tus 1.0 core + creation + termination)

    struct Resumable: Codable {
        var owner: String
        var length: Int
        var title: String?
        var cameraID: String?
        var filename: String?
        var createdAt: Double
        var offset = 0

        enum CodingKeys: String, CodingKey { case owner, length, title, cameraID = "camera_id", filename, createdAt = "created_at" }
    }

    func paths(_ id: String) -> (state: String, data: String) {
        (uploads.incomingDirectory + "/tmp/" + id + ".json", uploads.incomingDirectory + "/tmp/" + id + ".part")
    }

    /// The resumable upload `id` of the caller (404 for anyone else's, or one that expired).
    func resumable(_ id: String, principal: Principal) throws -> (Resumable, (state: String, data: String)) {
        let paths = paths(id)
        guard id.hasPrefix("res-"), id.utf8.count <= 40, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }),
              let bytes = try? FileIO.read(paths.state), var state = try? JSONDecoder().decode(Resumable.self, from: Data(bytes)),
              state.owner == principal.username, WallClock.now() - state.createdAt < uploads.configuration.resumableHours * 3600 else {
            throw GatewayError.notFound("upload '\(id)' not found")
        }
        state.offset = FileIO.size(paths.data) ?? 0
        return (state, paths)
    }

    func create(_ request: Request, principal: Principal) async throws -> Response {
        let pending = removeExpired().filter { $0.owner == principal.username }
        guard let text = request.headers[.uploadLength], let length = Int(text), length > 0 else {
            throw GatewayError.badRequest("Upload-Length must give the file's size in bytes")
        }
        // The request's own shape first (400), then what the gateway allows (413, 429).
        let metadata = try Self.metadata(request.headers[.uploadMetadata])
        guard length <= uploads.configuration.maxBytes else { throw Self.tooLarge(uploads.configuration.maxBytes) }
        // Unfinished uploads hold disk too: they count against the quota, and there are at most a few.
        guard pending.count < Self.pendingPerUser || principal.isAdmin else {
            throw GatewayError(.rateLimited, "at most \(Self.pendingPerUser) unfinished uploads at once; finish or delete one", retryAfter: 60)
        }
        var needed = length
        for state in pending {
            let (sum, overflow) = needed.addingReportingOverflow(state.length)
            needed = overflow ? Int.max : sum
        }
        try await uploads.checkQuota(principal, adding: needed)
        if let camera = metadata["cameraId"] { _ = try await access.authorize(principal, cameraID: camera, for: .operate) }
        let id = Identifier.make(prefix: "res-")
        let state = Resumable(owner: principal.username, length: length, title: metadata["title"], cameraID: metadata["cameraId"],
                              filename: metadata["filename"], createdAt: WallClock.now())
        _ = try uploads.temporaryPath()
        try FileIO.write(Array(try JSONEncoder().encode(state)), to: paths(id).state)
        try FileIO.write([], to: paths(id).data)
        var response = tusResponse(.created, offset: 0, length: length)
        response.headers[.location] = "/api/videos/uploads/\(id)"
        return response
    }

    func patch(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let principal = try context.principal()
        let id = try context.parameters.require("upload")
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/offset+octet-stream") || type.hasPrefix("application/octet-stream") else {
            throw GatewayError(.unsupportedMedia, "a PATCH carries Content-Type: application/offset+octet-stream")
        }
        guard busy.claim(id) else { throw GatewayError(.conflict, "this upload is being written by another request") }
        defer { busy.release(id) }
        let (state, paths) = try resumable(id, principal: principal)
        guard let text = request.headers[.uploadOffset], let offset = Int(text), offset == state.offset else {
            throw GatewayError(.conflict, "Upload-Offset must be \(state.offset), the bytes received so far")
        }
        let file = try UploadFile(path: paths.data, append: true)
        do {
            for try await chunk in request.body {
                guard file.size + offset + chunk.readableBytes <= state.length else {
                    throw GatewayError(.quotaExceeded, "more bytes than the Upload-Length of \(state.length)")
                }
                try await file.write(chunk.readableBytesView)
            }
            try await file.close()
        } catch {
            // A dropped connection keeps what arrived: the client resumes from the new offset.
            try? await file.close()
            throw error
        }
        let received = FileIO.size(paths.data) ?? 0
        guard received == state.length else { return tusResponse(.noContent, offset: received) }
        FileIO.remove(paths.state)
        let owner = try await users.principal(named: state.owner)
        let video = try await uploads.accept(file: paths.data, owner: owner, cameraID: state.cameraID, title: state.title, originalName: state.filename)
        var response = tusResponse(.noContent, offset: received)
        response.headers[.location] = "/api/videos/\(video.id)"
        response.headers[.uploadVideo] = video.id
        return response
    }

    /// tus `Upload-Metadata`: `key base64,key base64`.
    static func metadata(_ header: String?) throws -> [String: String] {
        guard let header, !header.isEmpty else { return [:] }
        guard header.utf8.count <= 4096 else { throw GatewayError.badRequest("Upload-Metadata is limited to 4 KiB") }
        var values: [String: String] = [:]
        for pair in header.split(separator: ",") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard let key = parts.first.map(String.init), !key.isEmpty else { continue }
            // Values are base64 (padding optional here); one that is not, or not UTF-8, is left out.
            if parts.count == 2 {
                var encoded = String(parts[1])
                encoded += String(repeating: "=", count: (4 - encoded.utf8.count % 4) % 4)
                if let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8) { values[key] = text }
            }
        }
        return values
    }

    func tusResponse(_ status: HTTPResponse.Status, offset: Int? = nil, length: Int? = nil) -> Response {
        var headers = HTTPFields()
        headers[.tusResumable] = Self.tusVersion
        headers[.cacheControl] = "no-store"
        if let offset { headers[.uploadOffset] = String(offset) }
        if let length { headers[.uploadLength] = String(length) }
        return Response(status: status, headers: headers)
    }

    /// Removes resumable uploads older than `resumable_hours`; returns the ones still open.
    @discardableResult
    func removeExpired() -> [Resumable] { uploads.removeExpiredResumables() }

    /// Unfinished resumable uploads one user may have at once.
    static let pendingPerUser = 4

    // MARK: reading

    func mine(_ request: Request, principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try VideoRoutes.number(query.get("page"), name: "page", default: 1, range: 1...1_000_000)
        let limit = try VideoRoutes.number(query.get("limit"), name: "limit", default: 10, range: 1...100)
        let (videos, total) = try await storage.videos(VideoQuery(kind: .upload, createdBy: principal.username, offset: (page - 1) * limit, limit: limit))
        return VideoRoutes.page(videos, page: page, limit: limit, total: total)
    }

    /// The upload, once it is ready and the caller may see it.
    func ready(_ id: String, principal: Principal) async throws -> VideoRecord {
        let video = try await access.authorize(principal, videoID: id, for: .view)
        guard video.kind == .upload else { throw GatewayError.notFound("video '\(id)' has no HLS or thumbnail (only uploads do)") }
        guard video.status == .ready else {
            throw GatewayError(.noVideo, "video '\(id)' is \(video.status.rawValue)" + (video.status == .processing
                ? " (\(video.details["progress"]?.integer ?? 0) %)" : ""), retryAfter: video.status == .processing ? 5 : nil)
        }
        return video
    }

    func hls(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let principal = try context.principal()
        let video = try await ready(try context.parameters.require("id"), principal: principal)
        let file = try context.parameters.require("file")
        let directory = uploads.videoDirectory(video.id) + "/hls/"
        if file == VODPackager.playlistName {
            // Every URI carries a stream token for this video, for players that cannot send headers.
            let token = try await streamTokens.token(userID: principal.userID, cameraID: Self.tokenPrefix + video.id)
            let text = String(decoding: try FileIO.read(directory + file), as: UTF8.self)
                .replacingOccurrences(of: "URI=\"init.mp4\"", with: "URI=\"init.mp4?token=\(token)\"")
                .split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("segment-") ? "\($0)?token=\(token)" : String($0) }
                .joined(separator: "\n")
            var headers = HTTPFields()
            headers[.contentType] = "application/vnd.apple.mpegurl"
            headers[.cacheControl] = "private, no-cache"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        guard file == "init.mp4" || (file.hasPrefix("segment-") && file.hasSuffix(".m4s") && file.dropFirst(8).dropLast(4).allSatisfy(\.isNumber)),
              let bytes = try? FileIO.read(directory + file) else {
            throw GatewayError.notFound("no \(file) in this video")
        }
        var response = RangeResponse.make(bytes, contentType: file.hasSuffix(".mp4") ? "video/mp4" : "video/iso.segment", request: request)
        response.headers[.cacheControl] = "private, max-age=3600, immutable"
        return response
    }
}

/// The resumable uploads a PATCH is writing now.
final class ActiveUploads: Sendable {
    private let ids = Mutex<Set<String>>([])
    func claim(_ id: String) -> Bool { ids.withLock { $0.insert(id).inserted } }
    func release(_ id: String) { _ = ids.withLock { $0.remove(id) } }
}

/// A file being received: bytes gathered into 1 MiB writes on an IO thread of its own.
final class UploadFile: @unchecked Sendable {
    private let descriptor: Int32
    private let path: String
    private let io = IOQueue(name: "upload", idleSeconds: 5)
    private var pending: [UInt8] = []
    private var closed = false
    private(set) var size = 0
    static let writeBytes = 1 << 20

    init(path: String, append: Bool) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o640)
        guard descriptor >= 0 else { throw GatewayError(.internal, "cannot create an upload file: \(String(cString: strerror(errno)))") }
    }

    func write(_ bytes: some Collection<UInt8>) async throws {
        pending += bytes
        size += bytes.count
        if pending.count >= Self.writeBytes { try await flush() }
    }

    private func flush() async throws {
        guard !pending.isEmpty else { return }
        let chunk = pending
        pending = []
        let descriptor = descriptor
        try await io.perform {
            var offset = 0
            while offset < chunk.count {
                let written = chunk.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, chunk.count - offset) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { throw GatewayError(.internal, "cannot write the upload: \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
    }

    func close() async throws {
        guard !closed else { return }
        closed = true
        defer { Glibc.close(descriptor); io.shutdown() }
        try await flush()
    }

    /// Closes and removes the file.
    func discard() async {
        pending = []
        try? await close()
        FileIO.remove(path)
    }
}

extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let uploadLength = Self("Upload-Length")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let uploadVideo = Self("Upload-Video")!
}
