import JSON
/// A user as stored. `passwordHash` is a bcrypt hash (`$2…`); it never leaves the server.
public struct UserRecord: Sendable, Equatable {
    public var id: String
    public var username: String
    public var passwordHash: String
    public var role: UserRole
    /// Unix seconds.
    public var createdAt: Double

    public init(id: String, username: String, passwordHash: String, role: UserRole, createdAt: Double) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.role = role
        self.createdAt = createdAt
    }
}

/// Where a camera was defined: plugins.json (changed there, upserted at start) or the API.
public enum CameraOrigin: String, Sendable, Codable { case config, api }

/// Whether a camera's source was chosen by an admin (or plugins.json) or by a user.
public enum SourceTrust: String, Sendable, Codable { case restricted, unrestricted }

/// A camera as stored: its plugins.json-shaped definition (`source`, `sinks`) kept as JSON, so
/// the API, the file and the storage describe cameras the same way.
public struct CameraRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Username of the owner; nil for cameras only admins see.
    public var owner: String?
    /// `{"type": …, options…}`, credentials included (never returned by the API).
    public var source: JSONValue
    /// `[{"type": …, options…}, …]`.
    public var sinks: JSONValue
    /// `sinks` as a list (empty when it is not one).
    public var sinkDefinitions: [JSONValue] { if case .array(let items) = sinks { items } else { [] } }
    /// Whether the definition has a sink of `type` (wherever the camera runs).
    public func hasSink(_ type: String) -> Bool { sinkDefinitions.contains { $0["type"] == .string(type) } }
    public var origin: CameraOrigin
    /// Who chose the source: an admin (`unrestricted`) or a user (`restricted`: the source
    /// policy's destination rules hold at every connect). plugins.json's cameras are unrestricted.
    public var sourceTrust: SourceTrust
    public var createdAt: Double
    public var updatedAt: Double

    public init(id: String, name: String, owner: String?, source: JSONValue, sinks: JSONValue,
                origin: CameraOrigin, sourceTrust: SourceTrust = .restricted, createdAt: Double, updatedAt: Double) {
        self.id = id
        self.sourceTrust = sourceTrust
        self.name = name
        self.owner = owner
        self.source = source
        self.sinks = sinks
        self.origin = origin
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether the source policy applies when this camera connects.
    public var isSourceRestricted: Bool { origin == .api && sourceTrust == .restricted }

    /// The camera as a plugins.json `cameras[]` entry.
    public var definition: JSONValue {
        var object = JSONObject([("id", .string(id)), ("name", .string(name))])
        if let owner { object["owner"] = .string(owner) }
        object["source"] = source
        object["sinks"] = sinks
        return .object(object)
    }
}

/// What a grant lets its holder do. Owners and admins can do everything.
public enum GrantRole: String, Sendable, Codable, ConfigEnum {
    case viewer, `operator`
}

/// A camera shared by its owner (or an admin) with another user.
public struct GrantRecord: Sendable, Equatable {
    public var cameraID: String
    public var username: String
    public var role: GrantRole
    /// Unix seconds; nil never expires.
    public var expiresAt: Double?
    public var grantedBy: String
    public var createdAt: Double

    public init(cameraID: String, username: String, role: GrantRole, expiresAt: Double?, grantedBy: String, createdAt: Double) {
        self.cameraID = cameraID
        self.username = username
        self.role = role
        self.expiresAt = expiresAt
        self.grantedBy = grantedBy
        self.createdAt = createdAt
    }

    public func isActive(at now: Double) -> Bool { expiresAt.map { now < $0 } ?? true }
}

public enum VideoKind: String, Sendable, Codable, ConfigEnum { case clip, recording, upload }
/// `processing`: an upload being packaged (progress in `details.progress`).
public enum VideoStatus: String, Sendable, Codable, ConfigEnum { case pending, recording, processing, ready, failed }

/// A clip, a recording segment or an upload: a file with metadata.
public struct VideoRecord: Sendable, Equatable {
    public var id: String
    public var cameraID: String?
    public var kind: VideoKind
    public var status: VideoStatus
    public var path: String
    /// Unix seconds of the first and last frame, when known.
    public var start: Double?
    public var end: Double?
    public var size: Int
    public var label: String?
    public var createdBy: String?
    public var createdAt: Double
    /// Anything kind-specific (trigger time, pre/post seconds, codec…).
    public var details: JSONObject

    public init(id: String, cameraID: String?, kind: VideoKind, status: VideoStatus, path: String, start: Double?, end: Double?,
                size: Int, label: String?, createdBy: String?, createdAt: Double, details: JSONObject = JSONObject()) {
        self.id = id
        self.cameraID = cameraID
        self.kind = kind
        self.status = status
        self.path = path
        self.start = start
        self.end = end
        self.size = size
        self.label = label
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.details = details
    }

    public var duration: Double? {
        guard let start, let end else { return nil }
        return end - start
    }
}

/// Which videos to list, newest first.
public struct VideoQuery: Sendable, Equatable {
    public var cameraIDs: [String]?
    public var kind: VideoKind?
    /// Only the videos this user made (uploaded, triggered).
    public var createdBy: String?
    public var offset: Int
    public var limit: Int

    public init(cameraIDs: [String]? = nil, kind: VideoKind? = nil, createdBy: String? = nil, offset: Int = 0, limit: Int = 50) {
        self.cameraIDs = cameraIDs
        self.kind = kind
        self.createdBy = createdBy
        self.offset = offset
        self.limit = limit
    }
}

/// Random identifiers for users, API cameras and videos.
public enum Identifier {
    public static func make(prefix: String = "") -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<8).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16) }
            .map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        return prefix + hex
    }
}
