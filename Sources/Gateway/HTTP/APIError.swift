import Hummingbird
import Foundation

/// The one error shape of the API: `{"error": {"status": 404, "code": "not_found", "message": "…"}}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func notFound(_ message: String = "not found") -> APIError { APIError(.notFound, code: "not_found", message) }
    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = JSONWriter.string(.object(JSONObject([
            ("error", .object(JSONObject([("status", .int(Int(status.code))), ("code", .string(code)), ("message", .string(message))]))),
        ])))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Turns every failure, including Hummingbird's own 404 and decoding errors, into the API's
/// error shape; an unexpected error is a 500 whose details stay in the log.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            throw APIError(error.status, code: code, error.body ?? error.status.reasonPhrase)
        } catch let error as DecodingError {
            throw APIError.badRequest("invalid request body: \(error)")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, code: "internal", "internal error")
        }
    }
}
