import Foundation

/// An Engine.IO v4 packet. Only `message` packets carry application data, text or binary.
public enum EngineIOPacket: Sendable, Equatable {
    case open(String)
    case close
    case ping(String)
    case pong(String)
    case message(EngineIOData)
    case upgrade
    case noop

    public var typeDigit: Character {
        switch self {
        case .open: "0"
        case .close: "1"
        case .ping: "2"
        case .pong: "3"
        case .message: "4"
        case .upgrade: "5"
        case .noop: "6"
        }
    }
}

public enum EngineIOData: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
}

public struct EngineIOParseError: Error, Equatable, Sendable {
    public let reason: String
}

/// Packet encodings of both transports.
public enum EngineIOCodec {
    /// The record separator between packets of one HTTP long-polling payload.
    public static let separator: Character = "\u{1E}"

    /// One packet as text: its type digit and data; binary messages as `b` + base64 (polling).
    public static func encodeText(_ packet: EngineIOPacket) -> String {
        switch packet {
        case .open(let data), .ping(let data), .pong(let data): return "\(packet.typeDigit)\(data)"
        case .message(.text(let text)): return "4\(text)"
        case .message(.binary(let bytes)): return "b" + Data(bytes).base64EncodedString()
        case .close, .upgrade, .noop: return String(packet.typeDigit)
        }
    }

    /// A polling response body: packets joined by the record separator.
    public static func encodePayload(_ packets: [EngineIOPacket]) -> String {
        packets.map(encodeText).joined(separator: String(separator))
    }

    public static func decodeText(_ text: Substring) throws(EngineIOParseError) -> EngineIOPacket {
        guard let first = text.first else { throw EngineIOParseError(reason: "empty packet") }
        let data = String(text.dropFirst())
        switch first {
        case "0": return .open(data)
        case "1": return .close
        case "2": return .ping(data)
        case "3": return .pong(data)
        case "4": return .message(.text(data))
        case "5": return .upgrade
        case "6": return .noop
        case "b":
            guard let bytes = Data(base64Encoded: data) else { throw EngineIOParseError(reason: "invalid base64 in a binary packet") }
            return .message(.binary([UInt8](bytes)))
        default: throw EngineIOParseError(reason: "unknown packet type '\(first)'")
        }
    }

    /// A polling request body: one or more packets separated by the record separator.
    public static func decodePayload(_ text: String) throws(EngineIOParseError) -> [EngineIOPacket] {
        guard !text.isEmpty else { throw EngineIOParseError(reason: "empty payload") }
        var packets: [EngineIOPacket] = []
        for part in text.split(separator: separator, omittingEmptySubsequences: false) {
            packets.append(try decodeText(part))
        }
        return packets
    }
}
