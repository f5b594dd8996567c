import JSON
/// plugins.json, decoded. Every section has defaults; `cameras` may be empty.
public struct GatewayConfig: Decodable, Sendable {
    public var server = ServerConfig()
    public var auth = AuthConfig()
    public var users: [UserConfig] = []
    public var storage: PluginField<StoragePluginKind>?
    /// A cache in front of the storage's hot reads (`redis`); none by default.
    public var cache: PluginField<CachePluginKind>?
    public var sources = SourcePolicyConfig()
    public var limits = LimitsConfig()
    public var uploads = UploadsConfig()
    public var events: [PluginField<EventsPluginKind>] = []
    /// Several gateway processes sharing the cameras (docs/scale-out.md); none by default.
    public var cluster: ClusterConfig?
    public var cameras: [CameraConfig] = []
    /// `cameras` as written (after `${VAR}` expansion), to store and re-validate.
    public var cameraDefinitions: [JSONValue] = []
    /// The directory of plugins.json; relative paths in camera definitions resolve against it.
    public var baseDirectory = "."
    /// The whole file as written (after `${VAR}` expansion), to tell which sections a reload changed.
    public var document: JSONValue = .null

    enum CodingKeys: String, CodingKey { case server, auth, users, storage, cache, sources, limits, uploads, events, cluster, cameras }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        server = try container.decodeIfPresent(ServerConfig.self, forKey: .server) ?? ServerConfig()
        auth = try container.decodeIfPresent(AuthConfig.self, forKey: .auth) ?? AuthConfig()
        users = try container.decodeIfPresent([UserConfig].self, forKey: .users) ?? []
        storage = try container.decodeIfPresent(PluginField<StoragePluginKind>.self, forKey: .storage)
        cache = try container.decodeIfPresent(PluginField<CachePluginKind>.self, forKey: .cache)
        sources = try container.decodeIfPresent(SourcePolicyConfig.self, forKey: .sources) ?? sources
        limits = try container.decodeIfPresent(LimitsConfig.self, forKey: .limits) ?? limits
        uploads = try container.decodeIfPresent(UploadsConfig.self, forKey: .uploads) ?? uploads
        events = try container.decodeIfPresent([PluginField<EventsPluginKind>].self, forKey: .events) ?? []
        cluster = try container.decodeIfPresent(ClusterConfig.self, forKey: .cluster)
        cameras = try container.decodeIfPresent([CameraConfig].self, forKey: .cameras) ?? []
        cameraDefinitions = try container.decodeIfPresent([JSONValue].self, forKey: .cameras) ?? []
        baseDirectory = decoder.userInfo[.configBaseDirectory] as? String ?? "."
    }
}

public struct ServerConfig: Decodable, Sendable, ConfigPlaceholder {
    /// Address to listen on. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one. Default 8080.
    public var port = 8080
    /// Where the gateway keeps its files, relative to plugins.json. Default `data`.
    public var dataDirectory = "data"
    /// Origins whose pages may call the API with the user's credentials (CORS). `*` lets any
    /// origin read responses, without credentials. Default none.
    public var corsOrigins: [String] = []
    /// A static bearer token that may read `/metrics` (for Prometheus); admins always may. Default none.
    public var metricsToken: String?
    /// Whether the web console is served at `/`. Default true.
    public var console = true

    enum CodingKeys: String, CodingKey {
        case host, port, dataDirectory = "data_dir", corsOrigins = "cors_origins", metricsToken = "metrics_token", console
    }

    public init() {}
    public static var configPlaceholder: ServerConfig { ServerConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? host
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? port
        dataDirectory = decoder.resolvePath(try container.decodeIfPresent(String.self, forKey: .dataDirectory) ?? dataDirectory)
        corsOrigins = try container.decodeIfPresent([String].self, forKey: .corsOrigins) ?? corsOrigins
        metricsToken = try container.decodeIfPresent(String.self, forKey: .metricsToken).flatMap { $0.isEmpty ? nil : $0 }
        console = try container.decodeIfPresent(Bool.self, forKey: .console) ?? console
        if let metricsToken, metricsToken.utf8.count < 16 { try decoder.reportProblem(CodingKeys.metricsToken, "must be at least 16 characters") }
        if !(0...65535).contains(port) { try decoder.reportProblem(CodingKeys.port, "\(port) is not a TCP port (0-65535)") }
        if host.isEmpty { try decoder.reportProblem(CodingKeys.host, "must not be empty") }
    }
}

public struct AuthConfig: Decodable, Sendable, ConfigPlaceholder {
    /// HS256 secret; empty generates one at first start and keeps it in `data_dir`. Default empty.
    public var jwtSecret = ""
    /// Lifetime of issued tokens. Default 3600.
    public var tokenTTLSeconds = 3600
    /// Whether `POST /api/auth/register` is open. Default true.
    public var allowRegistration = true
    /// bcrypt cost for new password hashes (4-16). Default 12.
    public var bcryptCost = 12
    /// A JWKS (file path, or http/https URL) whose RS256/ES256 keys may sign tokens too. Default none.
    public var jwks: String?
    /// Required `iss` of tokens, when set. Default none.
    public var issuer: String?
    /// Required `aud` of tokens, when set. Default none.
    public var audience: String?
    /// Claim naming the user in tokens from the JWKS's identity provider. Default `preferred_username`.
    public var usernameClaim = "preferred_username"
    /// Seconds a stream token (HLS URLs) lives after its last use. Default 600.
    public var streamTokenTTLSeconds = 600
    /// Registrations per client address per hour (each costs a bcrypt hash). Default 10.
    public var registrationsPerHour = 10

    enum CodingKeys: String, CodingKey {
        case jwtSecret = "jwt_secret", tokenTTLSeconds = "token_ttl_seconds", allowRegistration = "allow_registration"
        case bcryptCost = "bcrypt_cost", jwks, issuer, audience, usernameClaim = "username_claim"
        case streamTokenTTLSeconds = "stream_token_ttl_seconds", registrationsPerHour = "registrations_per_hour"
    }

    public init() {}
    public static var configPlaceholder: AuthConfig { AuthConfig() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        jwtSecret = try container.decodeIfPresent(String.self, forKey: .jwtSecret) ?? jwtSecret
        tokenTTLSeconds = try container.decodeIfPresent(Int.self, forKey: .tokenTTLSeconds) ?? tokenTTLSeconds
        allowRegistration = try container.decodeIfPresent(Bool.self, forKey: .allowRegistration) ?? allowRegistration
        bcryptCost = try container.decodeIfPresent(Int.self, forKey: .bcryptCost) ?? bcryptCost
        jwks = try container.decodeIfPresent(String.self, forKey: .jwks).map { $0.contains("://") ? $0 : decoder.resolvePath($0) }
        issuer = try container.decodeIfPresent(String.self, forKey: .issuer)
        audience = try container.decodeIfPresent(String.self, forKey: .audience)
        usernameClaim = try container.decodeIfPresent(String.self, forKey: .usernameClaim) ?? usernameClaim
        streamTokenTTLSeconds = try container.decodeIfPresent(Int.self, forKey: .streamTokenTTLSeconds) ?? streamTokenTTLSeconds
        registrationsPerHour = try container.decodeIfPresent(Int.self, forKey: .registrationsPerHour) ?? registrationsPerHour
        try decoder.requireRange(registrationsPerHour, 1...100_000, CodingKeys.registrationsPerHour)
        try decoder.requireRange(streamTokenTTLSeconds, 1...7 * 86_400, CodingKeys.streamTokenTTLSeconds)
        try decoder.requireRange(tokenTTLSeconds, 1...365 * 86_400, CodingKeys.tokenTTLSeconds)
        if !jwtSecret.isEmpty, jwtSecret.utf8.count < 32 {
            try decoder.reportProblem(CodingKeys.jwtSecret, "must be at least 32 bytes (or empty to generate one)")
        }
        if !(4...16).contains(bcryptCost) { try decoder.reportProblem(CodingKeys.bcryptCost, "must be between 4 and 16") }
        if let jwks, !jwks.contains("://"), let reason = FileIO.unreadableReason(jwks) {
            try decoder.reportProblem(CodingKeys.jwks, "cannot read \(jwks): \(reason)")
        }
    }
}

public enum UserRole: String, ConfigEnum, Sendable, Codable {
    case user, admin
}

public struct UserConfig: Decodable, Sendable {
    public var username: String
    /// Empty for the admin generates a strong password at first start. Default empty.
    public var password: String
    /// `admin` or `user`. Default `user`.
    public var role: UserRole

    enum CodingKeys: String, CodingKey { case username, password, role }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        username = try container.decode(String.self, forKey: .username)
        password = try container.decodeIfPresent(String.self, forKey: .password) ?? ""
        role = try container.decodeIfPresent(UserRole.self, forKey: .role) ?? .user
        if !username.isEmpty, !UsernameRules.isValid(username) {
            try decoder.reportProblem(CodingKeys.username, UsernameRules.description)
        }
    }
}

public enum UsernameRules {
    public static let description = "3-32 characters: letters, digits, '.', '_' or '-'"
    public static func isValid(_ name: String) -> Bool {
        (3...32).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }
}

public struct CameraConfig: Decodable, Sendable {
    /// Unique id used in URLs: letters, digits, `_` and `-`.
    public var id: String
    /// Display name. Default: the id.
    public var name: String
    /// Username of the owner. Default: none (admins only).
    public var owner: String?
    public var source: PluginField<SourcePluginKind>
    /// Default: none.
    public var sinks: [PluginField<SinkPluginKind>]

    enum CodingKeys: String, CodingKey { case id, name, owner, source, sinks }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? id
        owner = try container.decodeIfPresent(String.self, forKey: .owner)
        source = try container.decode(PluginField<SourcePluginKind>.self, forKey: .source)
        sinks = try container.decodeIfPresent([PluginField<SinkPluginKind>].self, forKey: .sinks) ?? []
        if !id.isEmpty, !CameraID.isValid(id) { try decoder.reportProblem(CodingKeys.id, CameraID.rules) }
    }
}

public enum CameraID {
    public static let rules = "1-64 characters: letters, digits, '_' or '-'"
    public static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}
