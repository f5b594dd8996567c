import GatewayCore
/// Who is making a request, once their token checked out.
public struct Principal: Sendable, Equatable {
    public let userID: String
    public let username: String
    public let role: UserRole
    /// Unix seconds when the credential this principal came from expires; open streams end then.
    public var expiresAt: Double?

    public init(userID: String, username: String, role: UserRole, expiresAt: Double? = nil) {
        self.userID = userID
        self.username = username
        self.role = role
        self.expiresAt = expiresAt
    }

    public var isAdmin: Bool { role == .admin }
}

/// The public face of a user: what the API returns (never the hash).
public struct PublicUser: Sendable, Codable, Equatable {
    public let id: String
    public let username: String
    public let role: UserRole
    public let createdAt: Double

    enum CodingKeys: String, CodingKey { case id, username, role, createdAt = "created_at" }

    public init(_ record: UserRecord) {
        id = record.id
        username = record.username
        role = record.role
        createdAt = record.createdAt
    }
}
