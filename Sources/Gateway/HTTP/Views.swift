import GatewayCore
import JSON
/// How users, cameras and grants look in API responses. Keys are snake_case.
enum Views {
    static func user(_ user: UserRecord) -> JSONValue {
        .object(JSONObject([("id", .string(user.id)), ("username", .string(user.username)), ("role", .string(user.role.rawValue)),
                            ("created_at", .string(WallClock.iso8601(user.createdAt)))]))
    }

    static func session(_ session: UserService.Session, expiresIn: Double) -> JSONValue {
        .object(JSONObject([("token", .string(session.token)), ("token_type", .string("Bearer")),
                            ("expires_in", .int(Int(expiresIn))), ("user", user(session.user))]))
    }

    /// A camera as its viewers see it, with its state here or, in a cluster, on the node that runs it.
    static func camera(_ record: CameraRecord, role: CameraRole, manager: CameraManager) -> JSONValue {
        camera(record, role: role, pipeline: manager.pipeline(id: record.id), remote: manager.remote[record.id])
    }

    static func camera(_ record: CameraRecord, role: CameraRole, pipeline: CameraPipeline?, remote: RemoteCameras.Entry? = nil) -> JSONValue {
        var object = JSONObject([("id", .string(record.id)), ("name", .string(record.name)),
                                 ("owner", record.owner.map { .string($0) } ?? .null), ("role", .string(role.rawValue)),
                                 ("origin", .string(record.origin.rawValue))])
        // Only those who may edit a camera see how it is reached, and never its secrets.
        object["source"] = role >= .owner ? Redaction.source(record.source) : .object(JSONObject([("type", record.source["type"] ?? .null)]))
        if role == .admin { object["source_trust"] = .string(record.isSourceRestricted ? "restricted" : "unrestricted") }
        if role >= .owner { object["sinks"] = record.sinks }
        if let pipeline {
            let status = pipeline.supervisor.currentStatus
            let statistics = pipeline.hub.statistics
            let video = pipeline.hub.currentStreams?.video
            object["state"] = .string(status.state.rawValue)
            object["last_error"] = (role == .admin ? status.lastError : status.lastPublicError).map { .string($0) } ?? .null
            object["stream"] = video.map { video in
                .object(JSONObject([("codec", .string(video.codecName)), ("width", .int(video.parameters.width)),
                                    ("height", .int(video.parameters.height)), ("fps", .double((statistics.fps * 100).rounded() / 100)),
                                    ("bitrate", .int(statistics.bitrate)), ("readers", .int(statistics.readerCount))]))
            } ?? .null
        } else if let remote {
            object["state"] = .string(remote.state.rawValue)
            object["last_error"] = (role == .admin ? remote.lastError : remote.lastPublicError).map { .string($0) } ?? .null
            if role == .admin { object["node"] = .string(remote.node) }
        } else {
            object["state"] = .string(CameraState.offline.rawValue)
        }
        object["created_at"] = .string(WallClock.iso8601(record.createdAt))
        object["updated_at"] = .string(WallClock.iso8601(record.updatedAt))
        return .object(object)
    }

    static func video(_ video: VideoRecord) -> JSONValue {
        func time(_ value: Double?) -> JSONValue { value.map { .string(WallClock.iso8601($0)) } ?? .null }
        return .object(JSONObject([
            ("id", .string(video.id)), ("camera_id", video.cameraID.map { .string($0) } ?? .null), ("kind", .string(video.kind.rawValue)),
            ("status", .string(video.status.rawValue)), ("start", time(video.start)), ("end", time(video.end)),
            ("duration", video.duration.map { .double(($0 * 1000).rounded() / 1000) } ?? .null), ("size", .int(video.size)),
            ("label", video.label.map { .string($0) } ?? .null), ("created_by", video.createdBy.map { .string($0) } ?? .null),
            ("created_at", .string(WallClock.iso8601(video.createdAt))), ("details", .object(video.details)),
        ]).merging(urls(video)))
    }

    /// Where a video plays: clips and recordings at once; uploads once they are ready (with their
    /// HLS and thumbnail), and their progress until then.
    static func urls(_ video: VideoRecord) -> JSONObject {
        guard video.kind == .upload else { return JSONObject([("stream_url", .string("/api/videos/\(video.id)/stream"))]) }
        var object = JSONObject([("progress", .int(video.status == .ready ? 100 : video.details["progress"]?.integer ?? 0))])
        if video.status == .ready {
            object["stream_url"] = .string("/api/videos/\(video.id)/stream")
            object["hls_url"] = .string("/api/videos/\(video.id)/hls/index.m3u8")
            object["thumbnail_url"] = .string("/api/videos/\(video.id)/thumbnail.jpg")
        }
        if video.status == .failed, let error = video.details["error"] { object["error"] = error }
        return object
    }

    static func grant(_ grant: GrantRecord) -> JSONValue {
        .object(JSONObject([("camera_id", .string(grant.cameraID)), ("username", .string(grant.username)),
                            ("role", .string(grant.role.rawValue)),
                            ("expires_at", grant.expiresAt.map { .string(WallClock.iso8601($0)) } ?? .null),
                            ("granted_by", .string(grant.grantedBy)), ("created_at", .string(WallClock.iso8601(grant.createdAt)))]))
    }
}

/// Keeps credentials out of responses: URLs lose their user info, secret-looking options are masked.
public enum Redaction {
    static let secretKeys: Set<String> = ["password", "pass", "secret", "token", "api_key", "headers", "user", "username"]

    public static func source(_ value: JSONValue) -> JSONValue {
        guard case .object(let object) = value else { return value }
        return .object(JSONObject(object.entries.map { entry in
            if secretKeys.contains(entry.key.lowercased()) { return (entry.key, .string("***")) }
            if case .string(let text) = entry.value { return (entry.key, .string(URLRedaction.redact(text))) }
            return (entry.key, entry.value)
        }))
    }
}
