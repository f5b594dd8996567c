import Hummingbird
import Foundation
import GatewayCore
import JSON

/// The one error shape of the API: `{"error": {"status": 404, "code": "not_found", "message": "…"}}`.
/// A `GatewayError` becomes one here, and only here (`init(_:)`); Hummingbird's own errors and a
/// 405 are built directly.
struct APIError: Error, HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// Per-field problems of a rejected request body.
    let details: [ConfigProblem]
    /// Seconds, for 429 and 503.
    let retryAfter: Int?
    /// The methods a path answers, for 405.
    let allow: String?

    init(_ status: HTTPResponse.Status, code: String, _ message: String, details: [ConfigProblem] = [], retryAfter: Int? = nil,
         allow: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retryAfter = retryAfter
        self.allow = allow
    }

    init(_ error: GatewayError) {
        self.init(Self.status(of: error), code: error.code.rawValue, error.message, details: error.details, retryAfter: error.retryAfter)
    }

    /// The HTTP status of each domain error.
    static func status(of error: GatewayError) -> HTTPResponse.Status {
        switch error.code {
        case .badRequest, .malformedJSON: .badRequest
        case .invalidRequest, .invalidCamera: error.isUnusable ? .unprocessableContent : .badRequest
        case .unauthenticated, .invalidToken, .invalidCredentials: .unauthorized
        case .forbidden, .crossSiteRequest, .registrationClosed, .sourceNotAllowed, .limitReached: .forbidden
        case .notFound: .notFound
        case .userExists, .cameraExists, .managedByConfig, .owner, .notStreamable, .notMJPEG, .notAFile, .noClipper, .noRecorder,
             .noVideo, .analyticsUnavailable, .conflict: .conflict
        case .bodyTooLarge, .quotaExceeded: .contentTooLarge
        case .unsupportedMedia: .unsupportedMediaType
        case .outOfRange, .passwordTooLong, .unknownOwner, .expired, .unplayable: .unprocessableContent
        case .websocketRequired: .upgradeRequired
        case .rateLimited, .tooManyClips, .tooManyPlaybacks: .tooManyRequests
        case .streamUnavailable: .serviceUnavailable
        case .storageUnavailable: .serviceUnavailable
        case .missingResource, .internal: .internalServerError
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var error = JSONObject([("status", .int(Int(status.code))), ("code", .string(code)), ("message", .string(message))])
        if !details.isEmpty {
            error["details"] = .array(details.map { .object(JSONObject([("path", .string($0.path)), ("reason", .string($0.reason))])) })
        }
        let body = JSONWriter.string(.object(JSONObject([("error", .object(error))])))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let allow { headers[.allow] = allow }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Turns every failure, including Hummingbird's own 404 and decoding errors, into the API's
/// error shape; an unexpected error is a 500 whose details stay in the log.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            throw APIError(error)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            guard let allowed = routes.methods(for: request.uri.path), !allowed.contains(request.method.rawValue) else {
                throw APIError(.notFound, code: "not_found", "no such route: \(request.uri.path)")
            }
            throw APIError(.methodNotAllowed, code: "method_not_allowed", "\(request.method.rawValue) is not allowed here",
                           allow: allowed.sorted().joined(separator: ", "))
        } catch let error as HTTPError {
            let code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            throw APIError(error.status, code: code, error.body ?? error.status.reasonPhrase)
        } catch let error as ConfigErrors {
            // A camera definition that cannot run as given (validated again when it starts).
            throw APIError(GatewayError.invalidCamera(error))
        } catch let error as DecodingError {
            throw APIError(GatewayError.badRequest("invalid request body: \(error)"))
        } catch {
            if let known = GatewayError.from(error) {
                // The storage being away is the operator's to know; a value it refused is the caller's.
                if known.code == .storageUnavailable { context.logger.warning("storage unavailable", metadata: ["error": "\(error)"]) }
                throw APIError(known)
            }
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internal", "internal error")
        }
    }
}
