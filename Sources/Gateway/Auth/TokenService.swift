import Foundation
import JWTKit
import GatewayCore
import JSON
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a token was refused. Always a 401, never a 500.
public struct TokenRejection: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A token that checked out: who it names.
public struct VerifiedToken: Sendable, Equatable {
    /// Gateway user id (own tokens) or the identity provider's subject.
    public let subject: String
    /// The username claim of identity-provider tokens.
    public let username: String?
    /// Signed by a JWKS key rather than the gateway's own secret.
    public let isExternal: Bool
    /// Unix seconds: when the token stops being valid (open streams end then).
    public var expiresAt: Double? = nil
}

/// Issues HS256 tokens and verifies them, and optionally RS256/ES256 tokens from an identity
/// provider's JWKS. Algorithms are pinned per key source: HS256 only with the gateway's secret,
/// RS256/ES256 only with a JWKS key named by `kid`; `none` and anything else are refused
/// before any key is consulted.
public struct TokenService: Sendable {
    static let externalAlgorithms: Set<String> = ["RS256", "ES256"]

    private let local: JWTKeyCollection
    private let external: JWTKeyCollection?
    private let externalKeyIDs: Set<String>
    private let ttl: Double
    private let issuer: String?
    private let audience: String?
    private let usernameClaim: String

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var iat: IssuedAtClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var name: String?
        /// `stream` for camera-scoped stream tokens, which open one camera's HLS and nothing else.
        var scope: String?
        /// The camera a stream token names.
        var cam: String?
        /// A stream token's id, for its sliding expiry.
        var jti: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            try nbf?.verifyNotBefore()
        }
    }

    /// Loads the HS256 secret (configured, or generated once into `data_dir/jwt-secret` with
    /// mode 0600) and the JWKS when configured.
    public static func make(config: AuthConfig, dataDirectory: String) async throws -> TokenService {
        let secret = config.jwtSecret.isEmpty ? try SecretFile.loadOrCreate(at: dataDirectory + "/jwt-secret") : config.jwtSecret
        let local = JWTKeyCollection()
        await local.add(hmac: HMACKey(from: Array(secret.utf8)), digestAlgorithm: .sha256)
        var external: JWTKeyCollection?
        var keyIDs: Set<String> = []
        if let source = config.jwks {
            let text = try await loadJWKS(source)
            guard case .object(let document)? = try? JSONParser.parse(text), case .array(let keys)? = document["keys"] else {
                throw TokenRejection("the JWKS at \(source) is not a JSON object with a \"keys\" array")
            }
            for case .object(let key) in keys {
                if case .string(let kid)? = key["kid"] { keyIDs.insert(kid) }
            }
            let collection = JWTKeyCollection()
            try await collection.add(jwksJSON: text)
            external = collection
        }
        return TokenService(local: local, external: external, externalKeyIDs: keyIDs, ttl: Double(config.tokenTTLSeconds),
                            issuer: config.issuer, audience: config.audience, usernameClaim: config.usernameClaim)
    }

    private static func loadJWKS(_ source: String) async throws -> String {
        if source.hasPrefix("http://") || source.hasPrefix("https://") {
            guard let url = URL(string: source) else { throw TokenRejection("invalid JWKS URL") }
            let (data, response) = try await URLSession.shared.data(from: url)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw TokenRejection("the JWKS URL did not answer 200") }
            return String(decoding: data, as: UTF8.self)
        }
        return String(decoding: try FileIO.read(source), as: UTF8.self)
    }

    /// A token naming `user`, valid for the configured lifetime.
    public func issue(for user: UserRecord, now: Date = Date()) async throws -> String {
        let claims = Claims(sub: .init(value: user.id), exp: .init(value: now.addingTimeInterval(ttl)), nbf: .init(value: now.addingTimeInterval(-5)),
                            iat: .init(value: now), iss: issuer.map { .init(value: $0) }, aud: audience.map { .init(value: [$0]) }, name: user.username)
        return try await local.sign(claims, header: ["alg": "HS256", "typ": "JWT"])
    }

    public var expiresIn: Double { ttl }

    /// A token for one user and one camera, for players that cannot send headers. Its claims
    /// cap it at a day; `StreamTokens` expires it after `idle` seconds without use.
    func signStreamToken(userID: String, cameraID: String, id: String, now: Date = Date()) async throws -> String {
        let claims = Claims(sub: .init(value: userID), exp: .init(value: now.addingTimeInterval(86_400)), nbf: .init(value: now.addingTimeInterval(-5)),
                            iat: .init(value: now), iss: nil, aud: nil, name: nil, scope: "stream", cam: cameraID, jti: id)
        return try await local.sign(claims, header: ["alg": "HS256", "typ": "JWT"])
    }

    /// The claims of a stream token whose signature and hard expiry check out.
    func verifyStreamToken(_ token: String) async throws(TokenRejection) -> (userID: String, cameraID: String, id: String, issuedAt: Double) {
        let header = try Self.header(of: token)
        guard header["alg"] == .string("HS256") else { throw TokenRejection("algorithm is not accepted") }
        let claims: Claims
        do {
            claims = try await local.verify(token, as: Claims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw TokenRejection("stream token has expired")
        } catch {
            throw TokenRejection("stream token is invalid")
        }
        guard claims.scope == "stream", let camera = claims.cam, let id = claims.jti, let issued = claims.iat else {
            throw TokenRejection("not a stream token")
        }
        return (claims.sub.value, camera, id, issued.value.timeIntervalSince1970)
    }

    public func verify(_ token: String) async throws(TokenRejection) -> VerifiedToken {
        let header = try Self.header(of: token)
        guard case .string(let algorithm)? = header["alg"] else { throw TokenRejection("token header has no algorithm") }
        let claims: Claims
        let isExternal: Bool
        do {
            if algorithm == "HS256" {
                claims = try await local.verify(token, as: Claims.self)
                isExternal = false
            } else if Self.externalAlgorithms.contains(algorithm), let external {
                guard case .string(let kid)? = header["kid"], externalKeyIDs.contains(kid) else {
                    throw TokenRejection("token names no known key")
                }
                claims = try await external.verify(token, as: Claims.self)
                isExternal = true
            } else {
                throw TokenRejection("algorithm '\(algorithm)' is not accepted")
            }
        } catch let rejection as TokenRejection {
            throw rejection
        } catch let error as JWTError {
            switch error.errorType {
            case .claimVerificationFailure:
                throw TokenRejection(error.reason?.contains("not before") == true || "\(error)".contains("nbf") ? "token is not valid yet" : "token has expired")
            case .signatureVerificationFailed: throw TokenRejection("token signature is invalid")
            default: throw TokenRejection("token is invalid")
            }
        } catch {
            throw TokenRejection("token is invalid")
        }
        if claims.scope != nil { throw TokenRejection("a stream token opens a stream, nothing else") }
        if let issuer, claims.iss?.value != issuer { throw TokenRejection("token issuer is not accepted") }
        if let audience, !(claims.aud?.value.contains(audience) ?? false) { throw TokenRejection("token audience is not accepted") }
        let username: String? = isExternal ? Self.claim(usernameClaim, of: token) ?? claims.sub.value : claims.name
        return VerifiedToken(subject: claims.sub.value, username: username, isExternal: isExternal,
                             expiresAt: claims.exp.value.timeIntervalSince1970)
    }

    static func header(of token: String) throws(TokenRejection) -> JSONObject {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(parts[0]),
              case .object(let header)? = try? JSONParser.parse(bytes) else {
            throw TokenRejection("token is malformed")
        }
        return header
    }

    static func claim(_ name: String, of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(parts[1]), case .string(let value)? = (try? JSONParser.parse(bytes))?[name] else {
            return nil
        }
        return value
    }
}

public enum Base64URL {
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// A secret generated once and kept in a 0600 file, so tokens survive restarts.
enum SecretFile {
    static func loadOrCreate(at path: String) throws -> String {
        if let existing = try? FileIO.read(path), !existing.isEmpty {
            return String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var generator = SystemRandomNumberGenerator()
        let secret = Base64URL.encode((0..<48).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw TokenRejection("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(secret.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { throw TokenRejection("cannot write \(path)") }
        return secret
    }
}
