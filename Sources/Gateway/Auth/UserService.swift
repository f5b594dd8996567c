import Logging
import GatewayCore
import JSON

/// Registration, login and token resolution: the only code that touches passwords.
public struct UserService: Sendable {
    let storage: any StorageBackend
    let hasher: PasswordHasher
    public let tokens: TokenService
    let throttle: LoginThrottle
    let events: EventBus
    let allowRegistration: Bool
    let logger: Logger
    /// Compared against when the user does not exist, so both paths take a bcrypt's time.
    private let decoyHash: String

    init(storage: any StorageBackend, hasher: PasswordHasher, tokens: TokenService, throttle: LoginThrottle,
         events: EventBus, allowRegistration: Bool, logger: Logger) async throws {
        self.storage = storage
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle
        self.events = events
        self.allowRegistration = allowRegistration
        self.logger = logger
        decoyHash = try await hasher.hash(Self.randomPassword())
    }

    public struct Session: Sendable {
        public let user: UserRecord
        public let token: String
    }

    public func register(username: String, password: String, address: String) async throws -> Session {
        guard allowRegistration else { throw GatewayError(.registrationClosed, "registration is turned off") }
        guard UsernameRules.isValid(username) else { throw GatewayError.badRequest("username must be \(UsernameRules.description)") }
        if let problem = PasswordHasher.problem(with: password) { throw problem }
        if let wait = await throttle.admitRegistration(address: address) {
            throw GatewayError(.rateLimited, "too many registrations from this address; try again in \(Int(wait)) s",
                           retryAfter: Int(wait))
        }
        let user = UserRecord(id: Identifier.make(), username: username, passwordHash: try await hasher.hash(password),
                              role: .user, createdAt: WallClock.now())
        do {
            try await storage.insertUser(user)
        } catch let error as StorageError where error.code == .conflict {
            throw GatewayError(.userExists, "username '\(username)' is taken")
        }
        events.emit(GatewayEvent(name: "user.registered", actor: username))
        return Session(user: user, token: try await tokens.issue(for: user))
    }

    public func login(username: String, password: String, address: String) async throws -> Session {
        if let wait = await throttle.retryAfter(username: username, address: address) {
            events.emit(GatewayEvent(name: "user.login_failed", actor: username, details: JSONObject([("reason", .string("rate limited")), ("address", .string(address))])))
            throw GatewayError(.rateLimited, "too many failed logins; try again in \(Int(wait)) s", retryAfter: Int(wait))
        }
        let user = try await storage.user(named: username)
        let matches = try await hasher.verify(password, hash: user?.passwordHash ?? decoyHash)
        guard let user, matches else {
            await throttle.recordFailure(username: username, address: address)
            events.emit(GatewayEvent(name: "user.login_failed", actor: username, details: JSONObject([("address", .string(address))])))
            throw GatewayError(.invalidCredentials, "invalid username or password")
        }
        await throttle.recordSuccess(username: username)
        events.emit(GatewayEvent(name: "user.login", actor: username, details: JSONObject([("address", .string(address))])))
        return Session(user: user, token: try await tokens.issue(for: user))
    }

    /// The principal of a configured service user (MQTT commands); 403 when there is no such user.
    public func principal(named username: String) async throws -> Principal {
        guard let user = try await storage.user(named: username) else {
            throw GatewayError(.forbidden, "the service user '\(username)' does not exist")
        }
        return Principal(userID: user.id, username: user.username, role: user.role)
    }

    /// The principal a bearer token names; 401 for anything wrong with it.
    public func principal(forToken token: String) async throws -> Principal {
        let verified: VerifiedToken
        do {
            verified = try await tokens.verify(token)
        } catch {
            throw GatewayError(.invalidToken, error.description)
        }
        let user: UserRecord?
        if verified.isExternal {
            user = try await externalUser(verified)
        } else {
            user = try await storage.user(id: verified.subject)
        }
        guard let user else { throw GatewayError(.invalidToken, "the token's user no longer exists") }
        return Principal(userID: user.id, username: user.username, role: user.role, expiresAt: verified.expiresAt)
    }

    /// The password-hash field of an identity provider's user: no password can match it, and
    /// it names the subject the account belongs to.
    static func externalLink(_ subject: String) -> String { "!external:" + subject }

    /// Users of an identity provider get a gateway account (role `user`) the first time they come.
    private func externalUser(_ token: VerifiedToken) async throws -> UserRecord? {
        guard let username = token.username, UsernameRules.isValid(username) else {
            throw GatewayError(.invalidToken, "the token's username is not acceptable here")
        }
        // The account is linked to the provider's subject, never found by the name alone: a
        // provider user called "admin" must not become the local admin.
        let link = Self.externalLink(token.subject)
        if let existing = try await storage.user(named: username) {
            guard existing.passwordHash == link else {
                throw GatewayError(.invalidToken, "the username '\(username)' belongs to another account")
            }
            return existing
        }
        let user = UserRecord(id: Identifier.make(), username: username, passwordHash: link, role: .user, createdAt: WallClock.now())
        do { try await storage.insertUser(user) } catch let error as StorageError where error.code == .conflict {}
        events.emit(GatewayEvent(name: "user.registered", actor: username, details: JSONObject([("via", .string("jwks"))])))
        guard let stored = try await storage.user(named: username), stored.passwordHash == link else {
            throw GatewayError(.invalidToken, "the username '\(username)' belongs to another account")
        }
        return stored
    }

    /// Creates the users of plugins.json that storage lacks. An empty password gets a strong
    /// generated one, shown once through `announce` and stored only as a hash.
    func bootstrap(_ users: [UserConfig], announce: @Sendable (String) -> Void) async throws {
        for config in users where try await storage.user(named: config.username) == nil {
            var password = config.password
            if password.isEmpty {
                password = Self.randomPassword()
                announce("Generated password for '\(config.username)': \(password)  (shown once; it is stored only as a bcrypt hash)")
            } else if let problem = PasswordHasher.problem(with: password) {
                throw ConfigErrors([ConfigProblem(path: "users", reason: "password of '\(config.username)': \(problem.message)")])
            }
            let user = UserRecord(id: Identifier.make(), username: config.username, passwordHash: try await hasher.hash(password),
                                  role: config.role, createdAt: WallClock.now())
            try await storage.insertUser(user)
            logger.notice("user created from plugins.json", metadata: ["user": "\(config.username)", "role": "\(config.role.rawValue)"])
        }
    }

    static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
