import GatewayCore
import JSON
import SocketIO
/// How a `GatewayError` reaches a Socket.IO client, in one place: an acknowledgement
/// `{success: false, error, code}`, or a refused CONNECT whose data carries the code.
enum SocketIOAnswer {
    /// The acknowledgement of a failed event; an error that is not the gateway's own is reported
    /// as `otherwise` (its details stay in the log).
    static func failure(_ error: any Error, otherwise: GatewayError = .internal) -> JSONValue {
        let error = GatewayError.from(error) ?? otherwise
        return .object(JSONObject([("success", .bool(false)), ("error", .string(error.message)), ("code", .string(error.code.rawValue))]))
    }

    static func refusal(_ error: any Error) -> SocketIOConnectError {
        guard let error = GatewayError.from(error) else { return SocketIOConnectError("authentication failed") }
        return SocketIOConnectError(error.message, data: .object(JSONObject([("code", .string(error.code.rawValue))])))
    }
}
