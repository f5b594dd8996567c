import GatewayCore
import JSON

/// The collections: `users`, `cameras`, `grants`, `videos`. Field names follow seed 000's
/// documents where they overlap (`_id`, `username`, `password`, `role`, `name`, `owner`,
/// `createdAt`); times are Unix seconds; a camera's `source` and `sinks` are sub-documents.
extension MongoStorage {
    static let indexes: [(String, [JSONValue])] = [
        ("users", [index("username_unique", [("username", 1)], unique: true)]),
        ("cameras", [index("by_owner", [("owner", 1)])]),
        ("grants", [index("camera_user_unique", [("cameraId", 1), ("username", 1)], unique: true),
                    index("by_user", [("username", 1), ("cameraId", 1)])]),
        ("videos", [index("by_camera_time", [("cameraId", 1), ("createdAt", -1)]),
                    index("by_owner_time", [("createdBy", 1), ("createdAt", -1)]),
                    index("by_time", [("createdAt", -1)])]),
    ]

    static func index(_ name: String, _ keys: [(String, Int)], unique: Bool = false) -> JSONValue {
        var object = JSONObject([("key", .object(JSONObject(keys.map { ($0.0, JSONValue.int($0.1)) }))), ("name", .string(name))])
        if unique { object["unique"] = .bool(true) }
        return .object(object)
    }

    // MARK: Users

    static func document(_ user: UserRecord) -> JSONObject {
        JSONObject([("_id", .string(user.id)), ("username", .string(user.username)), ("password", .string(user.passwordHash)),
                    ("role", .string(user.role.rawValue)), ("createdAt", .double(user.createdAt))])
    }

    static func user(_ document: JSONObject) -> UserRecord {
        UserRecord(id: document["_id"]?.stringValue ?? "", username: document["username"]?.stringValue ?? "",
                   passwordHash: document["password"]?.stringValue ?? "", role: UserRole(rawValue: document["role"]?.stringValue ?? "") ?? .user,
                   createdAt: document["createdAt"]?.doubleValue ?? 0)
    }

    // MARK: Cameras

    static func document(_ camera: CameraRecord) -> JSONObject {
        JSONObject([("_id", .string(camera.id)), ("name", .string(camera.name)), ("owner", camera.owner.map { .string($0) } ?? .null),
                    ("source", camera.source), ("sinks", camera.sinks), ("origin", .string(camera.origin.rawValue)),
                    ("sourceTrust", .string(camera.sourceTrust.rawValue)), ("createdAt", .double(camera.createdAt)),
                    ("updatedAt", .double(camera.updatedAt))])
    }

    static func camera(_ document: JSONObject) -> CameraRecord {
        CameraRecord(id: document["_id"]?.stringValue ?? "", name: document["name"]?.stringValue ?? "", owner: document["owner"]?.stringValue,
                     source: document["source"] ?? .object(JSONObject()), sinks: document["sinks"] ?? .array([]),
                     origin: CameraOrigin(rawValue: document["origin"]?.stringValue ?? "") ?? .api,
                     sourceTrust: SourceTrust(rawValue: document["sourceTrust"]?.stringValue ?? "") ?? .restricted,
                     createdAt: document["createdAt"]?.doubleValue ?? 0, updatedAt: document["updatedAt"]?.doubleValue ?? 0)
    }

    // MARK: Grants

    static func document(_ grant: GrantRecord) -> JSONObject {
        JSONObject([("cameraId", .string(grant.cameraID)), ("username", .string(grant.username)), ("role", .string(grant.role.rawValue)),
                    ("expiresAt", grant.expiresAt.map { .double($0) } ?? .null), ("grantedBy", .string(grant.grantedBy)),
                    ("createdAt", .double(grant.createdAt))])
    }

    static func grant(_ document: JSONObject) -> GrantRecord {
        GrantRecord(cameraID: document["cameraId"]?.stringValue ?? "", username: document["username"]?.stringValue ?? "",
                    role: GrantRole(rawValue: document["role"]?.stringValue ?? "") ?? .viewer, expiresAt: document["expiresAt"]?.doubleValue,
                    grantedBy: document["grantedBy"]?.stringValue ?? "", createdAt: document["createdAt"]?.doubleValue ?? 0)
    }

    // MARK: Videos

    static func document(_ video: VideoRecord) -> JSONObject {
        JSONObject([("_id", .string(video.id)), ("cameraId", video.cameraID.map { .string($0) } ?? .null), ("kind", .string(video.kind.rawValue)),
                    ("status", .string(video.status.rawValue)), ("path", .string(video.path)), ("start", video.start.map { .double($0) } ?? .null),
                    ("end", video.end.map { .double($0) } ?? .null), ("size", .int(video.size)), ("label", video.label.map { .string($0) } ?? .null),
                    ("createdBy", video.createdBy.map { .string($0) } ?? .null), ("createdAt", .double(video.createdAt)),
                    ("details", .object(video.details))])
    }

    static func video(_ document: JSONObject) -> VideoRecord {
        var details = JSONObject()
        if case .object(let object)? = document["details"] { details = object }
        return VideoRecord(id: document["_id"]?.stringValue ?? "", cameraID: document["cameraId"]?.stringValue,
                           kind: VideoKind(rawValue: document["kind"]?.stringValue ?? "") ?? .clip,
                           status: VideoStatus(rawValue: document["status"]?.stringValue ?? "") ?? .pending,
                           path: document["path"]?.stringValue ?? "", start: document["start"]?.doubleValue, end: document["end"]?.doubleValue,
                           size: document["size"]?.integer ?? 0, label: document["label"]?.stringValue,
                           createdBy: document["createdBy"]?.stringValue, createdAt: document["createdAt"]?.doubleValue ?? 0, details: details)
    }
}
