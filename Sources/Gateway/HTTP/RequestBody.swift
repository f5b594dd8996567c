import Hummingbird
import GatewayCore
import JSON

/// JSON request bodies: size-limited, parsed strictly (a syntax error names line and column),
/// decoded with the configuration decoder so every field problem is reported at once.
enum RequestBody {
    static let maximumBytes = 64 * 1024

    static func json(_ request: Request) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBytes)
        } catch {
            throw GatewayError(.bodyTooLarge, "request bodies are limited to \(maximumBytes / 1024) KiB")
        }
        guard buffer.readableBytes > 0 else { throw GatewayError.badRequest("a JSON body is required") }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw GatewayError(.malformedJSON, "malformed JSON at \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try decode(type, from: try await json(request))
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let (decoded, problems) = ConfigDecoder.decode(T.self, from: value)
        guard problems.isEmpty, let decoded else {
            throw GatewayError(.invalidRequest,
                           problems.map(\.description).joined(separator: "; "), details: problems)
        }
        return decoded
    }
}

extension Response {
    /// A JSON response from an ordered `JSONValue` (keys as written, `/` unescaped).
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: JSONWriter.string(value))))
    }
}
